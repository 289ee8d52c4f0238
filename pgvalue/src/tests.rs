//! The mapping expanded over bindings generated from wit/ by wit-bindgen, as a component's (and
//! bench/native's, through spin-sdk) are. The conversions are checked on their own; the round
//! trips through PostgreSQL run against the cluster `EDGE_TEST_PG` names (scripts/test sets it)
//! and are skipped without it.

mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "quotekit:edge/spin-services",
        additional_derives: [PartialEq],
        generate_all,
    });
}

crate::spin_postgres! {
    mod values {
        types: super::wit::spin::postgres::postgres,
        error: super::wit::spin::postgres::postgres::Error,
    }
}

use crate::{Answer, Asked, StatementCache};
use bytes::BytesMut;
use tokio_postgres::types::{IsNull, Type};
use tokio_postgres::Client;
use wit::spin::postgres::postgres::{
    DbDataType, DbValue, Error, Interval, ParameterValue as P, QueryError, RangeBoundKind::*, RowSet,
};

// ---- parameters, without a server ------------------------------------------------------------

/// `param` converted, then written for a parameter of type `ty` as tokio-postgres would (with
/// its type check): the bytes, `None` for NULL.
fn written(param: P, ty: &Type) -> Result<Option<Vec<u8>>, String> {
    let mut params = values::to_params(vec![param]).map_err(|e| format!("{e:?}"))?;
    let mut out = BytesMut::new();
    match params.remove(0).to_sql_checked(ty, &mut out).map_err(|e| e.to_string())? {
        IsNull::Yes => Ok(None),
        IsNull::No => Ok(Some(out.to_vec())),
    }
}

#[test]
fn parameters_are_written_as_their_column_types_want() {
    assert_eq!(written(P::Int32(7), &Type::INT4).unwrap(), Some(7i32.to_be_bytes().to_vec()));
    assert_eq!(written(P::Str("é".into()), &Type::TEXT).unwrap(), Some("é".as_bytes().to_vec()));
    let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let bytes = written(P::Uuid(uuid.into()), &Type::UUID).unwrap().unwrap();
    assert_eq!(bytes, uuid::Uuid::parse_str(uuid).unwrap().as_bytes());
    assert_eq!(written(P::DbNull, &Type::UUID).unwrap(), None);
    assert_eq!(written(P::Jsonb(b"[1]".to_vec()), &Type::JSONB).unwrap(), Some(b"\x01[1]".to_vec()));
    let interval = P::Interval(Interval { micros: 1, days: 2, months: 3 });
    assert_eq!(
        written(interval, &Type::INTERVAL).unwrap().unwrap(),
        [&1i64.to_be_bytes()[..], &[0, 0, 0, 2, 0, 0, 0, 3]].concat()
    );
    let range = P::RangeInt32((Some((1, Inclusive)), Some((5, Exclusive))));
    assert_eq!(written(range, &Type::INT4_RANGE).unwrap().unwrap()[0], 0x02, "lower inclusive, upper exclusive");
    assert!(written(P::Date((2024, 2, 29)), &Type::DATE).is_ok());
    assert!(written(P::Datetime((2024, 2, 29, 1, 2, 3, 0)), &Type::TIMESTAMPTZ).is_ok());
    assert!(written(P::ArrayDecimal(vec![Some("1.5".into()), None]), &Type::NUMERIC_ARRAY).is_ok());
}

#[test]
fn a_parameter_of_another_type_than_its_column_is_refused() {
    // As on Spin: a `str` is not a `uuid`, an int32 not an int64, a datetime not a date.
    let refused = written(P::Str("67e55044-10b1-426f-9247-bb680e5fe0c8".into()), &Type::UUID).unwrap_err();
    assert!(refused.contains("uuid"), "{refused}");
    assert!(written(P::Int32(1), &Type::INT8).is_err());
    assert!(written(P::Datetime((2024, 1, 1, 0, 0, 0, 0)), &Type::DATE).is_err());
    let refused = written(P::RangeInt32((None, None)), &Type::INT8_RANGE).unwrap_err();
    assert_eq!(refused, "a int4range parameter cannot be written as int8range");
}

#[test]
fn malformed_parameters_are_bad_parameters_naming_the_value() {
    let bad = |p: P| match values::to_params(vec![P::Int32(1), p]) {
        Err(Error::BadParameter(message)) => message,
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted"),
    };
    assert!(bad(P::Uuid("not a uuid".into())).starts_with("invalid uuid: "));
    assert!(bad(P::Decimal("1,5".into())).starts_with("invalid decimal `1,5`: "));
    assert!(bad(P::ArrayDecimal(vec![None, Some("x".into())])).starts_with("invalid decimal `x`: "));
    assert!(bad(P::RangeDecimal((None, Some(("y".into(), Inclusive))))).starts_with("invalid decimal `y`: "));
    assert_eq!(bad(P::Date((2023, 2, 29))), "invalid date 2023-2-29");
    assert_eq!(bad(P::Time((25, 0, 0, 0))), "invalid time");
    assert_eq!(bad(P::Datetime((2023, 2, 29, 0, 0, 0, 0))), "invalid datetime");
}

// ---- through PostgreSQL ---------------------------------------------------------------------

async fn client(test: &str) -> Option<Client> {
    let Ok(url) = std::env::var("EDGE_TEST_PG") else {
        eprintln!("{test}: skipped, EDGE_TEST_PG names no PostgreSQL cluster");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    Some(client)
}

async fn query(client: &Client, cache: &mut StatementCache, sql: &str, params: Vec<P>) -> Result<RowSet, Error> {
    match values::send(client, cache, false, Vec::new(), sql, params, Asked::Rows).await? {
        Answer::Rows(stmt, rows) => values::row_set(&stmt, &rows),
        Answer::Count(_) => unreachable!("rows were asked for"),
    }
}

/// The one value of `SELECT $1::ty` with `param`, and the column's type.
async fn round_trip(client: &Client, cache: &mut StatementCache, ty: &str, param: P) -> (DbDataType, DbValue) {
    let sql = format!("SELECT $1::{ty} AS v");
    let mut rows = query(client, cache, &sql, vec![param]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    (rows.columns.remove(0).data_type, rows.rows.remove(0).remove(0))
}

#[tokio::test]
async fn every_parameter_comes_back_as_the_value_it_was() {
    let Some(client) = client("every_parameter_comes_back_as_the_value_it_was").await else { return };
    let cache = &mut StatementCache::default();
    let same = [
        ("bool", P::Boolean(true), DbDataType::Boolean, DbValue::Boolean(true)),
        ("\"char\"", P::Int8(-5), DbDataType::Int8, DbValue::Int8(-5)),
        ("int2", P::Int16(-300), DbDataType::Int16, DbValue::Int16(-300)),
        ("int4", P::Int32(70_000), DbDataType::Int32, DbValue::Int32(70_000)),
        ("int8", P::Int64(1 << 40), DbDataType::Int64, DbValue::Int64(1 << 40)),
        ("int8", P::Timestamp(1_700_000_000), DbDataType::Int64, DbValue::Int64(1_700_000_000)),
        ("float4", P::Floating32(1.5), DbDataType::Floating32, DbValue::Floating32(1.5)),
        ("float8", P::Floating64(-0.25), DbDataType::Floating64, DbValue::Floating64(-0.25)),
        ("text", P::Str("héllo".into()), DbDataType::Str, DbValue::Str("héllo".into())),
        ("varchar", P::Str("v".into()), DbDataType::Str, DbValue::Str("v".into())),
        ("bytea", P::Binary(vec![0, 255]), DbDataType::Binary, DbValue::Binary(vec![0, 255])),
        ("date", P::Date((2024, 2, 29)), DbDataType::Date, DbValue::Date((2024, 2, 29))),
        ("time", P::Time((1, 2, 3, 4_000)), DbDataType::Time, DbValue::Time((1, 2, 3, 4_000))),
        (
            "timestamp",
            P::Datetime((2024, 2, 29, 1, 2, 3, 5_000)),
            DbDataType::Datetime,
            DbValue::Datetime((2024, 2, 29, 1, 2, 3, 5_000)),
        ),
        (
            "timestamptz",
            P::Datetime((1999, 12, 31, 23, 59, 59, 0)),
            DbDataType::Datetime,
            DbValue::Datetime((1999, 12, 31, 23, 59, 59, 0)),
        ),
        (
            "uuid",
            P::Uuid("67E55044-10B1-426F-9247-BB680E5FE0C8".into()),
            DbDataType::Uuid,
            DbValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
        ),
        (
            "jsonb",
            P::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
            DbDataType::Jsonb,
            DbValue::Jsonb(br#"{"a":[1,2]}"#.to_vec()),
        ),
        ("json", P::Jsonb(br#"{"b": null}"#.to_vec()), DbDataType::Jsonb, DbValue::Jsonb(br#"{"b":null}"#.to_vec())),
        ("numeric", P::Decimal("12.3400".into()), DbDataType::Decimal, DbValue::Decimal("12.3400".into())),
        (
            "int4[]",
            P::ArrayInt32(vec![Some(1), None]),
            DbDataType::ArrayInt32,
            DbValue::ArrayInt32(vec![Some(1), None]),
        ),
        (
            "int8[]",
            P::ArrayInt64(vec![None, Some(-2)]),
            DbDataType::ArrayInt64,
            DbValue::ArrayInt64(vec![None, Some(-2)]),
        ),
        (
            "text[]",
            P::ArrayStr(vec![Some("a".into()), None]),
            DbDataType::ArrayStr,
            DbValue::ArrayStr(vec![Some("a".into()), None]),
        ),
        (
            "numeric[]",
            P::ArrayDecimal(vec![Some("1.50".into()), None]),
            DbDataType::ArrayDecimal,
            DbValue::ArrayDecimal(vec![Some("1.50".into()), None]),
        ),
        (
            "interval",
            P::Interval(Interval { micros: 1_000_001, days: -2, months: 14 }),
            DbDataType::Interval,
            DbValue::Interval(Interval { micros: 1_000_001, days: -2, months: 14 }),
        ),
        (
            "int4range",
            P::RangeInt32((Some((1, Inclusive)), Some((5, Exclusive)))),
            DbDataType::RangeInt32,
            DbValue::RangeInt32((Some((1, Inclusive)), Some((5, Exclusive)))),
        ),
        (
            "int8range",
            P::RangeInt64((None, Some((9, Exclusive)))),
            DbDataType::RangeInt64,
            DbValue::RangeInt64((None, Some((9, Exclusive)))),
        ),
        (
            "numrange",
            P::RangeDecimal((Some(("1.5".into(), Inclusive)), Some(("2".into(), Inclusive)))),
            DbDataType::RangeDecimal,
            DbValue::RangeDecimal((Some(("1.5".into(), Inclusive)), Some(("2".into(), Inclusive)))),
        ),
        ("int4", P::DbNull, DbDataType::Int32, DbValue::DbNull),
    ];
    for (ty, param, data_type, value) in same {
        assert_eq!(round_trip(&client, cache, ty, param).await, (data_type, value), "{ty}");
    }
    // What the server makes of a value comes back as the server has it.
    let canonical =
        round_trip(&client, cache, "int4range", P::RangeInt32((Some((1, Exclusive)), Some((5, Inclusive))))).await;
    assert_eq!(canonical.1, DbValue::RangeInt32((Some((2, Inclusive)), Some((6, Exclusive)))));
    let empty =
        round_trip(&client, cache, "int4range", P::RangeInt32((Some((3, Inclusive)), Some((3, Exclusive))))).await;
    assert_eq!(empty.1, DbValue::RangeInt32((None, None)));
}

#[tokio::test]
async fn columns_outside_the_interface_come_back_unsupported_with_their_bytes() {
    let Some(client) = client("columns_outside_the_interface_come_back_unsupported_with_their_bytes").await else {
        return;
    };
    let cache = &mut StatementCache::default();
    let sql = "SELECT point(1, 2) AS p, 'NaN'::numeric AS n, NULL::point AS none, 'x'::name AS name";
    let rows = query(&client, cache, sql, Vec::new()).await.unwrap();
    let types: Vec<_> = rows.columns.iter().map(|c| (c.name.as_str(), c.data_type.clone())).collect();
    assert_eq!(
        types,
        [
            ("p", DbDataType::Other("point".into())),
            ("n", DbDataType::Decimal),
            ("none", DbDataType::Other("point".into())),
            ("name", DbDataType::Str)
        ]
    );
    let point = [1f64.to_be_bytes(), 2f64.to_be_bytes()].concat();
    // NaN is outside rust_decimal: numeric's wire form (ndigits 0, weight 0, sign NaN, dscale 0).
    let nan = vec![0, 0, 0, 0, 0xC0, 0, 0, 0];
    assert_eq!(
        rows.rows,
        [vec![DbValue::Unsupported(point), DbValue::Unsupported(nan), DbValue::DbNull, DbValue::Str("x".into())]]
    );
}

#[tokio::test]
async fn an_enum_column_reads_as_its_label() {
    let Some(client) = client("an_enum_column_reads_as_its_label").await else { return };
    client.batch_execute("BEGIN; CREATE TYPE pgvalue_test_mood AS ENUM ('happy', 'sad')").await.unwrap();
    let rows = query(&client, &mut StatementCache::default(), "SELECT 'sad'::pgvalue_test_mood AS m", Vec::new()).await;
    client.batch_execute("ROLLBACK").await.unwrap();
    let rows = rows.unwrap();
    assert_eq!(rows.columns[0].data_type, DbDataType::Str);
    assert_eq!(rows.rows, [vec![DbValue::Str("sad".into())]]);
}

#[tokio::test]
async fn errors_say_what_the_server_said_and_which_parameter_was_refused() {
    let Some(client) = client("errors_say_what_the_server_said_and_which_parameter_was_refused").await else {
        return;
    };
    let cache = &mut StatementCache::default();
    client
        .batch_execute("CREATE TEMP TABLE pgvalue_t (a int4 NOT NULL CONSTRAINT positive CHECK (a > 0))")
        .await
        .unwrap();
    let db_error = |e: Result<RowSet, Error>| match e {
        Err(Error::QueryFailed(QueryError::DbError(db))) => db,
        other => panic!("{other:?}"),
    };
    let insert = "INSERT INTO pgvalue_t VALUES ($1) RETURNING a";
    let check = db_error(query(&client, cache, insert, vec![P::Int32(-1)]).await);
    assert_eq!((check.code.as_str(), check.severity.as_str()), ("23514", "ERROR"));
    assert_eq!(
        check.extras,
        [("constraint".to_string(), "positive".to_string()), ("table".into(), "pgvalue_t".into())]
    );
    assert!(check.detail.is_some());
    assert!(check.as_text.contains(&check.message), "{check:?}");
    let not_null = db_error(query(&client, cache, insert, vec![P::DbNull]).await);
    assert_eq!(not_null.code, "23502");
    assert_eq!(not_null.extras, [("table".to_string(), "pgvalue_t".to_string()), ("column".into(), "a".into())]);
    let syntax = db_error(query(&client, cache, "SELEC 1", Vec::new()).await);
    assert_eq!(syntax.code, "42601");

    // Refused by tokio-postgres before it is sent: the parameter's type is not the column's.
    match query(&client, cache, insert, vec![P::Str("1".into())]).await {
        Err(Error::QueryFailed(QueryError::Text(text))) => {
            assert!(text.starts_with("error serializing parameter 0"), "{text}");
            assert!(text.contains("int4"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    match query(&client, cache, insert, vec![]).await {
        Err(Error::QueryFailed(QueryError::Text(text))) => assert!(text.contains("1 parameters"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_deferred_begin_goes_out_with_the_statement_even_when_its_parameters_are_refused() {
    let Some(client) =
        client("a_deferred_begin_goes_out_with_the_statement_even_when_its_parameters_are_refused").await
    else {
        return;
    };
    let cache = &mut StatementCache::default();
    let refused =
        values::send(&client, cache, true, Vec::new(), "SELECT $1::uuid", vec![P::Uuid("x".into())], Asked::Rows).await;
    assert!(matches!(refused, Err(Error::BadParameter(_))), "{:?}", refused.err());
    // Inside a transaction, two statements see the same transaction id.
    let txid = "SELECT txid_current() AS t";
    let first = query(&client, cache, txid, Vec::new()).await.unwrap().rows;
    assert_eq!(query(&client, cache, txid, Vec::new()).await.unwrap().rows, first, "BEGIN went out");
    let count = values::send(&client, cache, false, Vec::new(), "ROLLBACK", Vec::new(), Asked::Count).await.unwrap();
    assert!(matches!(count, Answer::Count(0)));
    assert_ne!(query(&client, cache, txid, Vec::new()).await.unwrap().rows, first, "rolled back");
}

#[tokio::test]
async fn held_settings_go_out_between_begin_and_the_statement_and_a_refused_one_is_the_answer() {
    let Some(client) =
        client("held_settings_go_out_between_begin_and_the_statement_and_a_refused_one_is_the_answer").await
    else {
        return;
    };
    let cache = &mut StatementCache::default();
    let setting = "SELECT set_config($1, $2, true)";
    let held = |name: &str, value: &str| (setting.to_string(), vec![P::Str(name.into()), P::Str(value.into())]);
    // BEGIN, two settings and the query in one round trip: the query sees both, in a transaction.
    let read =
        "SELECT current_setting('qk.a') || current_setting('qk.b') || (txid_current_if_assigned() IS NULL)::text AS v";
    let answer =
        values::send(&client, cache, true, vec![held("qk.a", "1"), held("qk.b", "2")], read, Vec::new(), Asked::Rows)
            .await
            .unwrap();
    let Answer::Rows(stmt, rows) = answer else { panic!("rows were asked for") };
    assert_eq!(values::row_set(&stmt, &rows).unwrap().rows, vec![vec![DbValue::Str("12true".into())]]);
    let txid = "SELECT txid_current() AS t";
    let first = query(&client, cache, txid, Vec::new()).await.unwrap().rows;
    assert_eq!(query(&client, cache, txid, Vec::new()).await.unwrap().rows, first, "BEGIN went out first");
    values::send(&client, cache, false, Vec::new(), "COMMIT", Vec::new(), Asked::Count).await.unwrap();
    // Local settings end with the transaction.
    let gone = "SELECT coalesce(current_setting('qk.a', true), '') AS v";
    assert_eq!(query(&client, cache, gone, Vec::new()).await.unwrap().rows, vec![vec![DbValue::Str(String::new())]]);

    // A held setting the server refuses is the answer, and the statement after it does not run.
    let write = "CREATE TEMPORARY TABLE qk_never (x int)";
    let refused =
        values::send(&client, cache, true, vec![held("role", "qk_no_such_role")], write, Vec::new(), Asked::Count)
            .await;
    match refused {
        Err(Error::QueryFailed(QueryError::DbError(e))) => assert!(e.message.contains("qk_no_such_role"), "{e:?}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("the refused setting was not the answer"),
    }
    values::send(&client, cache, false, Vec::new(), "ROLLBACK", Vec::new(), Asked::Count).await.unwrap();
    let exists = "SELECT (to_regclass('pg_temp.qk_never') IS NOT NULL)::text AS v";
    assert_eq!(query(&client, cache, exists, Vec::new()).await.unwrap().rows, vec![vec![DbValue::Str("false".into())]]);
}

#[test]
fn a_pool_is_sized_for_where_its_database_is() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(crate::pool_size(true), 2 * cores + 1);
    assert_eq!(crate::pool_size(false), crate::REMOTE_POOL_SIZE);
}
