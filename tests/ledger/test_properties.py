"""Property tests: whatever sequence of operations arrives, the books stay sound.

In memory, random valid and invalid specs go through one `PostingBook`. Against the database,
random transfers, holds, posts, voids and reversals go through `LedgerService`, checked step by
step against a small model of what each operation should do, and with `ledger.verify` at the end.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finhub.errors import FinhubError
from finhub.kit.db.engine import Connection
from finhub.kit.money import MAX_AMOUNT
from finhub.ledger import errors
from finhub.ledger.models import (
    AccountState,
    AccountType,
    Direction,
    Entry,
    EntrySpec,
    Phase,
    TransactionSpec,
)
from finhub.ledger.posting import PostingBook
from finhub.ledger.service import LedgerService
from tests.ledger.factories import account_state, make_account, make_bank, make_wallet, spec

# --- in memory ----------------------------------------------------------------------------------


def fresh_book() -> PostingBook:
    """Unlimited banks, limited wallets, a closed account and one in another ledger."""
    accounts = [
        account_state("acct_bank_usd", normal_side=Direction.DEBIT),
        account_state("acct_wallet_1", no_overdraft=True),
        account_state("acct_wallet_2", no_overdraft=True, overdraft_limit=100),
        account_state("acct_vault", normal_side=Direction.DEBIT, no_credit_over_debit=True),
        account_state("acct_closed", status="closed"),
        account_state("acct_elsewhere", ledger_id="other"),
        account_state("acct_bank_eur", asset="EUR", normal_side=Direction.DEBIT),
        account_state("acct_wallet_eur", asset="EUR", no_overdraft=True),
    ]
    return PostingBook({account.id: account for account in accounts})


ACCOUNTS_BY_ASSET = {
    "USD": ["acct_bank_usd", "acct_wallet_1", "acct_wallet_2", "acct_vault", "acct_closed"],
    "EUR": ["acct_bank_eur", "acct_wallet_eur"],
}
ANY_ACCOUNT = [*ACCOUNTS_BY_ASSET["USD"], *ACCOUNTS_BY_ASSET["EUR"], "acct_elsewhere", "acct_nope"]
PHASES = list(Phase)


@st.composite
def balanced_specs(draw: st.DrawFn) -> TransactionSpec:
    """Pairs of equal debit and credit legs per asset, in any order; limits may still break."""
    phase = draw(st.sampled_from([Phase.POSTED, Phase.POSTED, Phase.PENDING, Phase.RELEASE]))
    legs: list[EntrySpec] = []
    for _ in range(draw(st.integers(1, 3))):
        accounts = ACCOUNTS_BY_ASSET[draw(st.sampled_from(["USD", "USD", "EUR"]))]
        amount = draw(st.integers(1, 500))
        legs.append(EntrySpec(draw(st.sampled_from(accounts)), Direction.DEBIT, amount, phase))
        legs.append(EntrySpec(draw(st.sampled_from(accounts)), Direction.CREDIT, amount, phase))
    return spec(*draw(st.permutations(legs)))


@st.composite
def arbitrary_specs(draw: st.DrawFn) -> TransactionSpec:
    """Anything at all: mostly broken (unbalanced, unknown accounts, bad amounts)."""
    amounts = st.one_of(
        st.integers(1, 500), st.sampled_from([0, -3, MAX_AMOUNT, MAX_AMOUNT + 1, 2**200])
    )
    legs = draw(
        st.lists(
            st.builds(
                EntrySpec,
                st.sampled_from(ANY_ACCOUNT),
                st.sampled_from(list(Direction)),
                amounts,
                st.sampled_from(PHASES),
                st.sampled_from([None, None, "USD", "EUR"]),
            ),
            max_size=5,
        )
    )
    return spec(*legs)


def replay_totals(entries: Sequence[Entry]) -> dict[str, tuple[int, int, int, int, int]]:
    """Each account's (debits, credits posted, debits, credits pending, count) from entries."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for entry in entries:
        row = totals[entry.account_id]
        column = (0 if entry.direction is Direction.DEBIT else 1) + (
            0 if entry.phase is Phase.POSTED else 2
        )
        row[column] += -entry.amount if entry.phase is Phase.RELEASE else entry.amount
        row[4] += 1
    return {account: (r[0], r[1], r[2], r[3], r[4]) for account, r in totals.items()}


def totals_of(state: AccountState) -> tuple[int, int, int, int, int]:
    return (
        state.debits_posted,
        state.credits_posted,
        state.debits_pending,
        state.credits_pending,
        state.entry_count,
    )


def within_limits(state: AccountState) -> bool:
    debits = state.debits_posted + state.debits_pending
    credits = state.credits_posted + state.credits_pending
    if state.debits_must_not_exceed_credits:
        return debits <= state.credits_posted + state.overdraft_limit
    if state.credits_must_not_exceed_debits:
        return credits <= state.debits_posted + state.overdraft_limit
    return True


def assert_balanced(entries: Sequence[Entry]) -> None:
    net: Counter[tuple[str, Phase]] = Counter()
    for entry in entries:
        net[(entry.asset, entry.phase)] += (
            entry.amount if entry.direction is Direction.DEBIT else -entry.amount
        )
    assert len(entries) >= 2
    assert all(value == 0 for value in net.values()), net


def assert_snapshots_follow(entries: Sequence[Entry]) -> None:
    """Each entry's 'after' totals are the running totals of its account up to it."""
    running: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        running[entry.account_id].append(entry)
        replayed = replay_totals(running[entry.account_id])[entry.account_id]
        after = (
            entry.debits_posted_after,
            entry.credits_posted_after,
            entry.debits_pending_after,
            entry.credits_pending_after,
            entry.account_seq,
        )
        assert after == replayed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(balanced_specs(), balanced_specs(), arbitrary_specs()), max_size=40))
def test_any_sequence_of_specs_keeps_the_book_sound(specs: list[TransactionSpec]) -> None:
    book = fresh_book()
    accepted: list[Entry] = []
    for transaction in specs:
        before, touched_before = copy.deepcopy(book.accounts), set(book.touched)
        try:
            entries = book.apply(transaction)
        except errors.LedgerRuleError:
            assert book.accounts == before, "a rejected spec changed an account"
            assert book.touched == touched_before
            continue
        assert_balanced(entries)
        accepted.extend(entries)
        replayed = replay_totals(accepted)
        for state in book.accounts.values():
            assert totals_of(state) == replayed.get(state.id, (0, 0, 0, 0, 0))
            assert within_limits(state), state
            assert min(totals_of(state)) >= 0
    assert_snapshots_follow(accepted)


# --- against the database -----------------------------------------------------------------------

BANK, WALLET, OVERDRAFT_WALLET, SHOP = range(4)


@dataclass(frozen=True)
class Transfer:
    source: int
    target: int
    amount: int


@dataclass(frozen=True)
class Hold:
    source: int
    target: int
    amount: int


@dataclass(frozen=True)
class PostHold:
    hold: int  # index into the holds made so far (modulo)
    amount: int | None  # None posts the whole hold


@dataclass(frozen=True)
class VoidHold:
    hold: int


@dataclass(frozen=True)
class Reverse:
    transaction: int  # index into the posted transactions so far (modulo)


Operation = Transfer | Hold | PostHold | VoidHold | Reverse
# Every ordered pair of distinct accounts, and one pair that is the same account twice.
PAIRS = [(a, b) for a in range(4) for b in range(4) if a != b] + [(WALLET, WALLET)]
amounts = st.integers(1, 300)
operations = st.one_of(
    st.builds(lambda pair, n: Transfer(pair[0], pair[1], n), st.sampled_from(PAIRS), amounts),
    st.builds(lambda pair, n: Hold(pair[0], pair[1], n), st.sampled_from(PAIRS), amounts),
    st.builds(PostHold, st.integers(0, 4), st.none() | amounts),
    st.builds(VoidHold, st.integers(0, 4)),
    st.builds(Reverse, st.integers(0, 6)),
)


Totals = tuple[int, int, int, int]  # debits posted, credits posted, debits held, credits held
Change = dict[int, Totals]  # account index -> what an operation adds to its totals


@dataclass
class ModelHold:
    id: str
    source: int
    target: int
    amount: int
    open: bool = True


@dataclass
class ModelPosting:
    id: str
    source: int  # the debited account
    target: int  # the credited account
    amount: int
    reversible: bool
    reversed: bool = False


@dataclass
class Plan:
    """What an operation should do: fail with `error`, or add `change` and then `record` it."""

    error: str | None
    change: Change
    record: Callable[[str], None]


@dataclass
class Model:
    """What the ledger should hold, and which holds and postings exist."""

    limits: list[tuple[bool, int]]  # (no overdraft, overdraft limit) per account
    totals: list[Totals] = field(default_factory=list)
    holds: list[ModelHold] = field(default_factory=list)
    postings: list[ModelPosting] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.totals = [(0, 0, 0, 0) for _ in self.limits]

    def after(self, change: Change) -> dict[int, Totals]:
        return {account: add(self.totals[account], delta) for account, delta in change.items()}

    def limit_error(self, change: Change) -> str | None:
        for account, (dp, cp, dpe, _) in self.after(change).items():
            no_overdraft, overdraft = self.limits[account]
            if no_overdraft and dp + dpe > cp + overdraft:
                return "limit_exceeded" if overdraft else "insufficient_funds"
        return None

    def apply(self, change: Change) -> None:
        self.totals = [self.after(change).get(n, totals) for n, totals in enumerate(self.totals)]


def add(a: Totals, b: Totals) -> Totals:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def movement(source: int, target: int, amount: int, *, held: bool = False) -> Change:
    """The change of totals for a debit of `source` and a credit of `target`."""
    if held:
        return {source: (0, 0, amount, 0), target: (0, 0, 0, amount)}
    return {source: (amount, 0, 0, 0), target: (0, amount, 0, 0)}


def release(hold: ModelHold) -> Change:
    return {hold.source: (0, 0, -hold.amount, 0), hold.target: (0, 0, 0, -hold.amount)}


def merge(first: Change, second: Change) -> Change:
    merged = dict(first)
    for account, delta in second.items():
        merged[account] = add(merged.get(account, (0, 0, 0, 0)), delta)
    return merged


def rejected(error: str) -> Plan:
    return Plan(error, {}, lambda _: None)


class Runner:
    """Runs operations through the service and the model side by side."""

    def __init__(self, ledger: LedgerService, conn: Connection, accounts: list[str]) -> None:
        self.ledger, self.conn, self.accounts = ledger, conn, accounts
        self.model = Model(limits=[(False, 0), (True, 0), (True, 200), (False, 0)])

    async def run(self, operation: Operation) -> None:
        plan = self.plan(operation)
        if plan is None:
            return  # refers to a hold or posting when there is none yet
        outcome = await self.execute_in_savepoint(operation)
        if isinstance(outcome, FinhubError):
            assert outcome.code == plan.error, (operation, outcome)
            return
        assert plan.error is None, f"{operation} was accepted, expected {plan.error}"
        self.model.apply(plan.change)
        plan.record(outcome)

    async def execute_in_savepoint(self, operation: Operation) -> str | FinhubError:
        """The new transaction's id, or the rule it broke (then the savepoint undid it all)."""
        try:
            async with self.conn.transaction():
                transaction_id = await self.execute(operation)
                # Fire the deferred zero-sum trigger now rather than at a commit that never comes.
                await self.conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                await self.conn.execute("SET CONSTRAINTS ALL DEFERRED")
        except FinhubError as error:
            return error
        return transaction_id

    def plan(self, op: Operation) -> Plan | None:
        if isinstance(op, Transfer | Hold):
            return self.plan_movement(op)
        if isinstance(op, Reverse):
            return self.plan_reversal(op) if self.model.postings else None
        return self.plan_resolution(op) if self.model.holds else None

    def plan_movement(self, op: Transfer | Hold) -> Plan:
        model, held = self.model, isinstance(op, Hold)
        if op.source == op.target:
            return rejected("invalid_transaction")
        change = movement(op.source, op.target, op.amount, held=held)

        def record(txn: str) -> None:
            if held:
                model.holds.append(ModelHold(txn, op.source, op.target, op.amount))
            else:
                model.postings.append(ModelPosting(txn, op.source, op.target, op.amount, True))

        return Plan(model.limit_error(change), change, record)

    def plan_reversal(self, op: Reverse) -> Plan:
        model = self.model
        original = model.postings[op.transaction % len(model.postings)]
        if not original.reversible:
            return rejected("transaction_not_reversible")
        if original.reversed:
            return rejected("transaction_already_reversed")
        change = movement(original.target, original.source, original.amount)

        def record(txn: str) -> None:
            original.reversed = True
            mirror = ModelPosting(txn, original.target, original.source, original.amount, False)
            model.postings.append(mirror)

        return Plan(model.limit_error(change), change, record)

    def plan_resolution(self, op: PostHold | VoidHold) -> Plan:
        model = self.model
        hold = model.holds[op.hold % len(model.holds)]
        if not hold.open:
            return rejected("transaction_already_resolved")
        if isinstance(op, VoidHold):
            return Plan(None, release(hold), lambda _: setattr(hold, "open", False))
        posted = hold.amount if op.amount is None else op.amount
        if posted > hold.amount:
            return rejected("invalid_transaction")

        def record(txn: str) -> None:
            hold.open = False
            model.postings.append(ModelPosting(txn, hold.source, hold.target, posted, True))

        change = merge(release(hold), movement(hold.source, hold.target, posted))
        return Plan(model.limit_error(change), change, record)

    async def execute(self, op: Operation) -> str:
        ledger, conn, model = self.ledger, self.conn, self.model
        if isinstance(op, Transfer | Hold):
            transfer = ledger.transfer_spec(
                from_account=self.accounts[op.source],
                to_account=self.accounts[op.target],
                amount=op.amount,
                asset="USD",
                pending=isinstance(op, Hold),
            )
            return (await ledger.post_one(conn, transfer)).id
        if isinstance(op, Reverse):
            original = model.postings[op.transaction % len(model.postings)]
            return (await ledger.reverse(conn, original.id)).id
        hold = model.holds[op.hold % len(model.holds)]
        if isinstance(op, VoidHold):
            return (await ledger.void_pending(conn, hold.id)).id
        return (await ledger.post_pending(conn, hold.id, amount=op.amount)).id

    async def assert_matches_model(self) -> None:
        for account_id, expected in zip(self.accounts, self.model.totals, strict=True):
            state = (await self.ledger.get_account(self.conn, account_id)).state
            actual = (
                state.debits_posted,
                state.credits_posted,
                state.debits_pending,
                state.credits_pending,
            )
            assert actual == expected, account_id


async def entry_sums(conn: Connection, account_ids: list[str]) -> dict[str, Totals]:
    """Each account's totals recomputed from its entries alone."""
    cursor = await conn.execute(
        """
        SELECT account_id,
               sum(amount) FILTER (WHERE direction = 'debit' AND phase = 'posted') AS dp,
               sum(amount) FILTER (WHERE direction = 'credit' AND phase = 'posted') AS cp,
               sum(CASE phase WHEN 'pending' THEN amount WHEN 'release' THEN -amount END)
                   FILTER (WHERE direction = 'debit') AS dpe,
               sum(CASE phase WHEN 'pending' THEN amount WHEN 'release' THEN -amount END)
                   FILTER (WHERE direction = 'credit') AS cpe
          FROM ledger_entries WHERE account_id = ANY(%s) GROUP BY account_id
        """,
        (account_ids,),
    )
    return {
        row["account_id"]: (
            int(row["dp"] or 0),
            int(row["cp"] or 0),
            int(row["dpe"] or 0),
            int(row["cpe"] or 0),
        )
        for row in await cursor.fetchall()
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operations, min_size=1, max_size=25))
async def test_random_operations_keep_the_stored_ledger_sound(
    conn: Connection, ledger: LedgerService, steps: list[Operation]
) -> None:
    async with conn.transaction(force_rollback=True):  # each example starts from scratch
        accounts = [
            await make_bank(ledger, conn),
            await make_wallet(ledger, conn),
            await make_wallet(ledger, conn, overdraft_limit=200),
            await make_account(ledger, conn, type=AccountType.REVENUE),
        ]
        runner = Runner(ledger, conn, accounts)
        for step in steps:
            await runner.run(step)
            await runner.assert_matches_model()
        report = await ledger.verify(conn)
        assert report.ok, report
        sums = await entry_sums(conn, accounts)
        for account_id, expected in zip(accounts, runner.model.totals, strict=True):
            assert sums.get(account_id, (0, 0, 0, 0)) == expected
