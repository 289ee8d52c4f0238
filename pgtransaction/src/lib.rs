//! Where a pooled PostgreSQL connection stands in a transaction, read from the statements sent
//! over it, for both pools of this project that lend connections to request handlers: `edge`'s
//! (host/src/pool.rs and postgres.rs: what components reach through `spin:postgres`) and
//! bench/native's (shared/src/db/native.rs). It depends on nothing, so both can use it.
//!
//! A connection goes back to its pool when the request that borrowed it ends, however it ends:
//! answered, trapped, or stopped at its time limit. If a transaction is open on it then, the
//! pool rolls it back before anyone else gets the connection; otherwise the next request would
//! run inside the last one's transaction, with its role, its claims and its locks. Handlers
//! speak SQL, so the state is read from the statements themselves: [`Effect::of`] says what a
//! statement does to a transaction, [`Transaction`] keeps the state and says what to send.
//!
//! Two rules keep a connection safe when a statement is not understood or not finished:
//! - a transaction counts as open as soon as it may be: from before a statement that may open
//!   one is sent until a statement that ends one has been answered. Rolling back a connection
//!   that was idle after all costs a warning; a missed rollback costs the next request.
//! - only the plain forms end a transaction: `COMMIT`, `END`, `ROLLBACK` or `ABORT`, with
//!   `WORK` or `TRANSACTION` and `AND NO CHAIN`. `ROLLBACK TO SAVEPOINT` and `... AND CHAIN`
//!   stay inside it, as does any statement not recognized.
//!
//! A bare `BEGIN` is not sent on its own: it goes out with the statement that follows (one
//! round trip instead of two), and a transaction that ends before any statement costs nothing.
//! Results are the same as sending each statement alone.

/// What a statement does to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `BEGIN` or `START TRANSACTION`, with any options; `bare` when it is the word `BEGIN` alone.
    Begins { bare: bool },
    /// `COMMIT`, `END`, `ROLLBACK` or `ABORT` in a form that ends the transaction; `bare` when it
    /// is the word alone.
    Ends { bare: bool },
    /// Anything else, `SAVEPOINT`, `RELEASE` and `ROLLBACK TO` included: the transaction, if
    /// any, goes on.
    Keeps,
}

impl Effect {
    /// What `sql`, sent with `params` parameters, does to a transaction. Transaction commands
    /// take no parameters: sent with some, they are refused and change nothing.
    pub fn of(sql: &str, params: usize) -> Effect {
        if params > 0 {
            return Effect::Keeps;
        }
        let text = after_comments(sql).trim_end().trim_end_matches(';');
        // The longest form that ends a transaction has five words (COMMIT WORK AND NO CHAIN).
        let words: Vec<String> = text.split_whitespace().take(6).map(str::to_ascii_uppercase).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["BEGIN"] => Effect::Begins { bare: true },
            ["BEGIN" | "START", ..] => Effect::Begins { bare: false },
            ["COMMIT" | "END" | "ROLLBACK" | "ABORT"] => Effect::Ends { bare: true },
            ["COMMIT" | "END" | "ROLLBACK" | "ABORT", rest @ ..] if ends_plainly(rest) => Effect::Ends { bare: false },
            _ => Effect::Keeps,
        }
    }
}

/// Whether the words after COMMIT (or END, ROLLBACK, ABORT) leave the transaction ended:
/// `[WORK | TRANSACTION] [AND NO CHAIN]`. `AND CHAIN` starts the next transaction at once,
/// `ROLLBACK TO` returns to a savepoint inside this one, and `COMMIT PREPARED` is about another.
fn ends_plainly(rest: &[&str]) -> bool {
    let rest = match rest {
        ["WORK" | "TRANSACTION", rest @ ..] => rest,
        _ => rest,
    };
    matches!(rest, [] | ["AND", "NO", "CHAIN"])
}

/// `sql` from its first word on, past blanks and comments (`-- ...` and `/* ... */`), so that
/// a commented `BEGIN` is still seen as one.
fn after_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, next)| next);
        } else if sql.starts_with("/*") {
            sql = after_block_comment(sql);
        } else {
            return sql;
        }
    }
}

/// What follows the block comment `sql` starts with. PostgreSQL's block comments nest; an
/// unterminated one is all there is (the server refuses the statement).
fn after_block_comment(sql: &str) -> &str {
    let bytes = sql.as_bytes();
    let (mut depth, mut at) = (0usize, 0);
    while at + 1 < bytes.len() {
        match &bytes[at..at + 2] {
            b"/*" => {
                depth += 1;
                at += 2;
            }
            b"*/" => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return &sql[at..];
                }
            }
            _ => at += 1,
        }
    }
    ""
}

/// Where a connection stands. A connection given back to its pool in [`Transaction::Open`] is
/// rolled back first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transaction {
    /// No transaction: each statement commits on its own.
    #[default]
    Idle,
    /// A bare `BEGIN` was asked for and not sent yet: it goes out with the next statement.
    BeginPending,
    /// A transaction is open on the server, or may be.
    Open,
}

/// What to send to the server for a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// Nothing: the statement is answered at once, with nothing done and no rows.
    Nothing,
    /// The statement.
    Statement,
    /// `BEGIN`, then the statement, in the same write.
    BeginAndStatement,
}

/// A statement on its way: what to send, and where the connection stands once the server has
/// answered it.
#[derive(Debug)]
#[must_use = "give the step back to Transaction::answered once the server has answered"]
pub struct Step {
    pub outgoing: Outgoing,
    after: Transaction,
}

impl Transaction {
    /// Plan `sql`, sent with `params` parameters. The state becomes what it is while the
    /// statement is on its way (open if a transaction may be open at any point of it), and
    /// [`Transaction::answered`] moves it on once the server has answered, with rows or with an
    /// error alike. A request stopped in between leaves a connection that is rolled back.
    pub fn send(&mut self, sql: &str, params: usize) -> Step {
        let effect = Effect::of(sql, params);
        let (outgoing, after) = match (*self, effect) {
            (Transaction::Idle, Effect::Begins { bare: true }) => (Outgoing::Nothing, Transaction::BeginPending),
            (Transaction::BeginPending, Effect::Ends { bare: true }) => (Outgoing::Nothing, Transaction::Idle),
            (Transaction::BeginPending, effect) => (Outgoing::BeginAndStatement, Transaction::Open.then(effect)),
            (state, effect) => (Outgoing::Statement, state.then(effect)),
        };
        *self = match outgoing {
            Outgoing::Nothing => after,
            _ if *self == Transaction::Idle && after == Transaction::Idle => Transaction::Idle,
            _ => Transaction::Open,
        };
        Step { outgoing, after }
    }

    /// The server answered the statement of `step`.
    pub fn answered(&mut self, step: Step) {
        *self = step.after;
    }

    /// Whether a connection given back now must be rolled back before anyone else uses it.
    pub fn must_roll_back(self) -> bool {
        self == Transaction::Open
    }

    fn then(self, effect: Effect) -> Transaction {
        match effect {
            Effect::Begins { .. } => Transaction::Open,
            Effect::Ends { .. } => Transaction::Idle,
            Effect::Keeps => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send each statement and have it answered; what was sent for each.
    fn run(transaction: &mut Transaction, statements: &[&str]) -> Vec<Outgoing> {
        statements
            .iter()
            .map(|sql| {
                let step = transaction.send(sql, 0);
                let outgoing = step.outgoing;
                transaction.answered(step);
                outgoing
            })
            .collect()
    }

    #[test]
    fn statements_are_read_by_their_leading_words() {
        for (sql, effect) in [
            ("BEGIN", Effect::Begins { bare: true }),
            ("  begin ;", Effect::Begins { bare: true }),
            ("-- the user's work\nBEGIN", Effect::Begins { bare: true }),
            ("/* outer /* inner */ still a comment */ begin", Effect::Begins { bare: true }),
            ("BEGIN ISOLATION LEVEL SERIALIZABLE", Effect::Begins { bare: false }),
            ("BEGIN WORK", Effect::Begins { bare: false }),
            ("START TRANSACTION READ ONLY", Effect::Begins { bare: false }),
            ("COMMIT", Effect::Ends { bare: true }),
            ("commit;", Effect::Ends { bare: true }),
            ("END", Effect::Ends { bare: true }),
            ("ROLLBACK", Effect::Ends { bare: true }),
            ("ABORT", Effect::Ends { bare: true }),
            ("COMMIT WORK", Effect::Ends { bare: false }),
            ("ROLLBACK TRANSACTION AND NO CHAIN", Effect::Ends { bare: false }),
            ("ROLLBACK TO SAVEPOINT item", Effect::Keeps),
            ("ROLLBACK TO item", Effect::Keeps),
            ("COMMIT AND CHAIN", Effect::Keeps),
            ("COMMIT PREPARED 'x'", Effect::Keeps),
            ("SAVEPOINT item", Effect::Keeps),
            ("RELEASE SAVEPOINT item", Effect::Keeps),
            ("SELECT set_config('role', 'authenticated', true)", Effect::Keeps),
            ("DO $$ BEGIN PERFORM 1; END $$", Effect::Keeps),
            ("/* never closed BEGIN", Effect::Keeps),
            ("", Effect::Keeps),
        ] {
            assert_eq!(Effect::of(sql, 0), effect, "{sql:?}");
        }
        // Transaction commands take no parameters; sent with some they are refused.
        assert_eq!(Effect::of("BEGIN", 1), Effect::Keeps);
        assert_eq!(Effect::of("COMMIT", 1), Effect::Keeps);
    }

    #[test]
    fn a_bare_begin_goes_out_with_the_next_statement() {
        let mut t = Transaction::Idle;
        let sent = run(&mut t, &["BEGIN", "SELECT set_config('role', $1, true)"]);
        assert_eq!(sent, [Outgoing::Nothing, Outgoing::BeginAndStatement]);
        assert_eq!(t, Transaction::Open);
        // While only asked for, nothing is open on the server: nothing to roll back.
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN"]);
        assert_eq!(t, Transaction::BeginPending);
        assert!(!t.must_roll_back());
    }

    #[test]
    fn begin_with_options_or_start_transaction_is_sent_at_once() {
        for begin in ["BEGIN ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION"] {
            let mut t = Transaction::Idle;
            assert_eq!(run(&mut t, &[begin]), [Outgoing::Statement]);
            assert_eq!(t, Transaction::Open);
        }
    }

    #[test]
    fn commit_and_rollback_end_the_transaction() {
        for end in ["COMMIT", "ROLLBACK", "END", "ABORT", "COMMIT WORK"] {
            let mut t = Transaction::Idle;
            let sent = run(&mut t, &["BEGIN", "UPDATE t SET x = 1", end]);
            assert_eq!(sent, [Outgoing::Nothing, Outgoing::BeginAndStatement, Outgoing::Statement], "{end}");
            assert_eq!(t, Transaction::Idle, "{end}");
            assert!(!t.must_roll_back());
        }
    }

    #[test]
    fn a_transaction_ended_before_any_statement_costs_nothing() {
        for end in ["COMMIT", "ROLLBACK"] {
            let mut t = Transaction::Idle;
            assert_eq!(run(&mut t, &["BEGIN", end]), [Outgoing::Nothing, Outgoing::Nothing]);
            assert_eq!(t, Transaction::Idle);
        }
        // A longer form goes out with its BEGIN, and ends the transaction just the same.
        let mut t = Transaction::Idle;
        assert_eq!(run(&mut t, &["BEGIN", "COMMIT WORK"]), [Outgoing::Nothing, Outgoing::BeginAndStatement]);
        assert_eq!(t, Transaction::Idle);
    }

    #[test]
    fn savepoints_stay_inside_the_transaction() {
        let mut t = Transaction::Idle;
        let _ = run(
            &mut t,
            &["BEGIN", "SAVEPOINT item", "UPDATE t SET x = 1", "ROLLBACK TO SAVEPOINT item", "RELEASE SAVEPOINT item"],
        );
        assert_eq!(t, Transaction::Open, "ROLLBACK TO SAVEPOINT does not end the transaction");
        let _ = run(&mut t, &["COMMIT AND CHAIN"]);
        assert_eq!(t, Transaction::Open, "AND CHAIN begins the next one");
        let _ = run(&mut t, &["COMMIT"]);
        assert_eq!(t, Transaction::Idle);
    }

    #[test]
    fn a_connection_given_back_inside_a_transaction_is_rolled_back() {
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN", "SELECT pg_advisory_xact_lock(1)"]);
        assert!(t.must_roll_back());
        // An unrecognized statement does not end it: open until proven otherwise.
        let _ = run(&mut t, &["COMMIT -- done"]);
        assert!(t.must_roll_back());
        // Nor does a transaction command with parameters (refused).
        let step = t.send("ROLLBACK", 1);
        t.answered(step);
        assert!(t.must_roll_back());
    }

    #[test]
    fn a_request_stopped_with_a_statement_on_its_way_leaves_a_connection_to_roll_back() {
        // Stopped while COMMIT is on its way: it may not have reached the server.
        let mut t = Transaction::Open;
        let step = t.send("COMMIT", 0);
        assert_eq!(step.outgoing, Outgoing::Statement);
        assert!(t.must_roll_back());
        t.answered(step);
        assert!(!t.must_roll_back(), "answered: ended");
        // Stopped while BEGIN and its statement are on their way: BEGIN may have run.
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN"]);
        let step = t.send("COMMIT WORK", 0);
        assert_eq!(step.outgoing, Outgoing::BeginAndStatement);
        assert!(t.must_roll_back());
        drop(step);
        // Stopped while BEGIN ISOLATION LEVEL ... is on its way.
        let mut t = Transaction::Idle;
        let _step = t.send("BEGIN ISOLATION LEVEL REPEATABLE READ", 0);
        assert!(t.must_roll_back());
        // An ordinary statement outside a transaction never needs one.
        let mut t = Transaction::Idle;
        let _step = t.send("SELECT 1", 0);
        assert!(!t.must_roll_back());
    }

    #[test]
    fn a_begin_inside_a_transaction_is_sent_and_changes_nothing() {
        // PostgreSQL answers it with a warning; the transaction goes on.
        let mut t = Transaction::Idle;
        assert_eq!(run(&mut t, &["BEGIN", "SELECT 1", "BEGIN"]).last(), Some(&Outgoing::Statement));
        assert_eq!(t, Transaction::Open);
        let mut t = Transaction::Idle;
        assert_eq!(run(&mut t, &["BEGIN", "BEGIN"]), [Outgoing::Nothing, Outgoing::BeginAndStatement]);
        assert_eq!(t, Transaction::Open);
    }
}
