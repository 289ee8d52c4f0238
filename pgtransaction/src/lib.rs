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
//! So do the transaction-local settings that usually follow it — the role and the JWT claims a
//! request acts with, `SELECT set_config($1, $2, true), ...` sent to learn nothing but that it
//! worked ([`is_local_setting`]): they are held, answered at once as the server would answer
//! them (one row), and go out between `BEGIN` and the next statement. BEGIN, the role and the
//! request's first query then cost one round trip instead of three. Results are the same as
//! sending each statement alone, but for when an error is told: a held setting the server
//! refuses is the answer to the statement it went out with, which then does not run.

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

/// Whether `sql` only sets transaction-local settings: `SELECT set_config(name, value, true)`,
/// one call or several separated by commas, each name and value a parameter (`$1`) or a plain
/// string literal. Such a statement, sent for its row count, always answers one row unless it
/// fails, and what it sets ends with the transaction.
pub fn is_local_setting(sql: &str) -> bool {
    let text = after_comments(sql).trim_end().trim_end_matches(';').trim_end();
    let Some(mut rest) = strip_word(text, "SELECT").filter(|r| r.starts_with(char::is_whitespace)) else {
        return false;
    };
    loop {
        rest = rest.trim_start();
        rest = strip_word(rest, "pg_catalog.").map_or(rest, str::trim_start);
        let Some(call) = strip_word(rest, "set_config").map(str::trim_start) else { return false };
        let Some(args) = call.strip_prefix('(') else { return false };
        let Some((args, after)) = args.split_once(')') else { return false };
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        if !matches!(args.as_slice(), [name, value, local] if plain(name) && plain(value) && local.eq_ignore_ascii_case("true"))
        {
            return false;
        }
        rest = after.trim_start();
        if rest.is_empty() {
            return true;
        }
        let Some(next) = rest.strip_prefix(',') else { return false };
        rest = next;
    }
}

/// `text` past `word` (case-insensitive), when it starts with it.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &text[word.len()..])
}

/// A parameter (`$1`) or a string literal without quotes, commas or parentheses inside.
fn plain(arg: &str) -> bool {
    if let Some(n) = arg.strip_prefix('$') {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    }
    arg.len() >= 2
        && arg.starts_with('\'')
        && arg.ends_with('\'')
        && !arg[1..arg.len() - 1].contains(['\'', ',', '(', ')', '\\'])
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
    /// A bare `BEGIN` and transaction-local settings were asked for, and none sent yet: they go
    /// out with the next statement. Given back to the pool now, the held settings are dropped.
    SettingsPending,
    /// A transaction is open on the server, or may be.
    Open,
}

/// What to send to the server for a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// Nothing: the statement is answered at once, with nothing done and no rows.
    Nothing,
    /// Nothing yet: the statement is held, to go out after `BEGIN` with the next statement,
    /// and answered at once with one row (see [`is_local_setting`]).
    Held,
    /// The statement.
    Statement,
    /// `BEGIN`, then the held statements in the order they were asked for, then the statement,
    /// in the same write.
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
    /// Plan `sql`, sent with `params` parameters; `for_rows` when the caller wants its rows
    /// (a query) rather than how many rows it touched. The state becomes what it is while the
    /// statement is on its way (open if a transaction may be open at any point of it), and
    /// [`Transaction::answered`] moves it on once the server has answered, with rows or with an
    /// error alike. A request stopped in between leaves a connection that is rolled back.
    pub fn send(&mut self, sql: &str, params: usize, for_rows: bool) -> Step {
        let effect = Effect::of(sql, params);
        let holds = !for_rows && is_local_setting(sql);
        let (outgoing, after) = match (*self, effect) {
            (Transaction::Idle, Effect::Begins { bare: true }) => (Outgoing::Nothing, Transaction::BeginPending),
            (Transaction::BeginPending, Effect::Ends { bare: true }) => (Outgoing::Nothing, Transaction::Idle),
            (Transaction::BeginPending | Transaction::SettingsPending, Effect::Keeps) if holds => {
                (Outgoing::Held, Transaction::SettingsPending)
            }
            (Transaction::BeginPending | Transaction::SettingsPending, effect) => {
                (Outgoing::BeginAndStatement, Transaction::Open.then(effect))
            }
            (state, effect) => (Outgoing::Statement, state.then(effect)),
        };
        *self = match outgoing {
            Outgoing::Nothing | Outgoing::Held => after,
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
                let step = transaction.send(sql, 0, false);
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
        let sent = run(&mut t, &["BEGIN", "SELECT 1"]);
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
        let step = t.send("ROLLBACK", 1, false);
        t.answered(step);
        assert!(t.must_roll_back());
    }

    #[test]
    fn a_request_stopped_with_a_statement_on_its_way_leaves_a_connection_to_roll_back() {
        // Stopped while COMMIT is on its way: it may not have reached the server.
        let mut t = Transaction::Open;
        let step = t.send("COMMIT", 0, false);
        assert_eq!(step.outgoing, Outgoing::Statement);
        assert!(t.must_roll_back());
        t.answered(step);
        assert!(!t.must_roll_back(), "answered: ended");
        // Stopped while BEGIN and its statement are on their way: BEGIN may have run.
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN"]);
        let step = t.send("COMMIT WORK", 0, false);
        assert_eq!(step.outgoing, Outgoing::BeginAndStatement);
        assert!(t.must_roll_back());
        drop(step);
        // Stopped while BEGIN ISOLATION LEVEL ... is on its way.
        let mut t = Transaction::Idle;
        let _step = t.send("BEGIN ISOLATION LEVEL REPEATABLE READ", 0, false);
        assert!(t.must_roll_back());
        // An ordinary statement outside a transaction never needs one.
        let mut t = Transaction::Idle;
        let _step = t.send("SELECT 1", 0, false);
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

    #[test]
    fn local_settings_are_told_apart_from_everything_else() {
        for sql in [
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            "select set_config($1, $2, TRUE);",
            "SELECT pg_catalog.set_config('synchronous_commit', 'off', true)",
            "-- the caller\nSELECT set_config ( 'role' , 'authenticated' , true )",
        ] {
            assert!(is_local_setting(sql), "{sql:?}");
        }
        for sql in [
            // Session settings outlive the transaction.
            "SELECT set_config('role', $1, false)",
            "SELECT set_config('role', $1, $3)",
            // Anything that computes, reads or has more than the calls.
            "SELECT set_config('role', current_user, true)",
            "SELECT set_config('role', $1, true) FROM t",
            "SELECT set_config('role', $1, true), now()",
            "SELECT set_config('a', 'x'')', true)",
            "SELECT set_config('role', $1, true); DELETE FROM t",
            "SELECT set_config('role', $1, true) WHERE false",
            "SELECT set_config('role', lower($1), true)",
            "SELECT set_configuration('role', $1, true)",
            "SELECTset_config('role', $1, true)",
            "SELECT 1",
            "SET LOCAL role authenticated",
            "",
        ] {
            assert!(!is_local_setting(sql), "{sql:?}");
        }
    }

    #[test]
    fn local_settings_after_a_bare_begin_go_out_with_the_next_statement() {
        let setting = "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";
        let mut t = Transaction::Idle;
        let sent = run(&mut t, &["BEGIN", setting, "SELECT set_config('x.y', 'z', true)"]);
        assert_eq!(sent, [Outgoing::Nothing, Outgoing::Held, Outgoing::Held]);
        assert_eq!(t, Transaction::SettingsPending);
        assert!(!t.must_roll_back(), "nothing has reached the server");
        assert_eq!(run(&mut t, &["UPDATE t SET x = 1", "COMMIT"]), [Outgoing::BeginAndStatement, Outgoing::Statement]);
        assert_eq!(t, Transaction::Idle);
        // Ended at once, they still go out (so a refused setting is still told).
        let mut t = Transaction::Idle;
        assert_eq!(
            run(&mut t, &["BEGIN", setting, "COMMIT"]),
            [Outgoing::Nothing, Outgoing::Held, Outgoing::BeginAndStatement]
        );
        assert_eq!(t, Transaction::Idle);
    }

    #[test]
    fn local_settings_are_held_only_after_a_bare_begin_and_only_for_a_row_count() {
        let setting = "SELECT set_config('role', $1, true)";
        // Outside a transaction, inside an open one, or asked for its rows: sent as it comes.
        let mut t = Transaction::Idle;
        assert_eq!(run(&mut t, &[setting]), [Outgoing::Statement]);
        let mut t = Transaction::Idle;
        assert_eq!(run(&mut t, &["BEGIN", "SELECT 1", setting]).last(), Some(&Outgoing::Statement));
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN"]);
        let step = t.send(setting, 1, true);
        assert_eq!(step.outgoing, Outgoing::BeginAndStatement);
        t.answered(step);
        assert_eq!(t, Transaction::Open);
        // A request stopped while the held statements go out leaves a connection to roll back.
        let mut t = Transaction::Idle;
        let _ = run(&mut t, &["BEGIN", setting]);
        let _step = t.send("SELECT 1", 0, true);
        assert!(t.must_roll_back());
    }
}
