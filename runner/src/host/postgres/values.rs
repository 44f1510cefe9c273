//! PostgreSQL values in `spin:postgres@4.2.0`'s terms (the widest version; the older ones
//! convert from these): a guest's parameters as the driver sends them, and the server's
//! columns and values as the guest gets them.
//!
//! Parameters are typed by the server (the statement is prepared first); a value goes as the
//! type the server asks for when that loses nothing (an `int8`/`int16`/`int32` for a wider
//! integer column, a `floating32` for `double precision`, a `datetime` or `timestamp` for either
//! timestamp type, a `timestamp` for `bigint` as seconds), and is refused otherwise, with the
//! driver's words. Columns of types the interface has no variant for come back as
//! `unsupported` with the value's bytes in PostgreSQL's binary format, and data type
//! `other(name)`.

use super::v4::{self, DbDataType, DbValue, ParameterValue, RangeBoundKind};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use postgres_range::{BoundSided, BoundType, Normalizable, Range, RangeBound};
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn std::error::Error + Sync + Send>;
type Buf = bytes::BytesMut;

/// A guest's parameter, checked and ready to send.
#[derive(Debug)]
pub(super) enum Param {
    Null,
    Bool(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    DateTime(NaiveDateTime),
    Timestamp(DateTime<Utc>),
    Uuid(uuid::Uuid),
    Json(serde_json::Value),
    Decimal(Decimal),
    RangeInt32(Range<i32>),
    RangeInt64(Range<i64>),
    RangeDecimal(Range<RangeDecimal>),
    ArrayInt32(Vec<Option<i32>>),
    ArrayInt64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<Decimal>>),
    ArrayStr(Vec<Option<String>>),
    Interval(Interval),
}

impl Param {
    /// The parameter a guest gave, or why it is not a valid value of its variant.
    pub(super) fn from_wit(value: ParameterValue) -> Result<Self, String> {
        Ok(match value {
            ParameterValue::DbNull => Param::Null,
            ParameterValue::Boolean(v) => Param::Bool(v),
            ParameterValue::Int8(v) => Param::Int8(v),
            ParameterValue::Int16(v) => Param::Int16(v),
            ParameterValue::Int32(v) => Param::Int32(v),
            ParameterValue::Int64(v) => Param::Int64(v),
            ParameterValue::Floating32(v) => Param::Float32(v),
            ParameterValue::Floating64(v) => Param::Float64(v),
            ParameterValue::Str(v) => Param::Str(v),
            ParameterValue::Binary(v) => Param::Binary(v),
            ParameterValue::Date(v) => Param::Date(date(v)?),
            ParameterValue::Time(v) => Param::Time(time(v)?),
            ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
                Param::DateTime(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?))
            }
            ParameterValue::Timestamp(seconds) => Param::Timestamp(
                DateTime::from_timestamp(seconds, 0)
                    .ok_or_else(|| format!("invalid timestamp {seconds}"))?,
            ),
            ParameterValue::Uuid(v) => Param::Uuid(
                uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v}: {e}"))?,
            ),
            ParameterValue::Jsonb(v) => Param::Json(
                serde_json::from_slice(&v)
                    .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(&v)))?,
            ),
            ParameterValue::Decimal(v) => Param::Decimal(decimal(&v)?),
            ParameterValue::RangeInt32((lower, upper)) => {
                Param::RangeInt32(Range::new(lower.map(bound), upper.map(bound)))
            }
            ParameterValue::RangeInt64((lower, upper)) => {
                Param::RangeInt64(Range::new(lower.map(bound), upper.map(bound)))
            }
            ParameterValue::RangeDecimal((lower, upper)) => {
                fn decimal_bound<S: BoundSided>(
                    (v, kind): (String, RangeBoundKind),
                ) -> Result<RangeBound<S, RangeDecimal>, String> {
                    decimal(&v).map(|d| bound((RangeDecimal(d), kind)))
                }
                Param::RangeDecimal(Range::new(
                    lower.map(decimal_bound).transpose()?,
                    upper.map(decimal_bound).transpose()?,
                ))
            }
            ParameterValue::ArrayInt32(v) => Param::ArrayInt32(v),
            ParameterValue::ArrayInt64(v) => Param::ArrayInt64(v),
            ParameterValue::ArrayDecimal(v) => Param::ArrayDecimal(
                v.iter()
                    .map(|d| d.as_deref().map(decimal).transpose())
                    .collect::<Result<_, _>>()?,
            ),
            ParameterValue::ArrayStr(v) => Param::ArrayStr(v),
            ParameterValue::Interval(v) => Param::Interval(Interval {
                micros: v.micros,
                days: v.days,
                months: v.months,
            }),
        })
    }

    fn encode(&self, ty: &Type, out: &mut Buf) -> Result<IsNull, BoxError> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql_checked(ty, out),
            Param::Int8(v) => match *ty {
                Type::INT2 => i16::from(*v).to_sql_checked(ty, out),
                Type::INT4 => i32::from(*v).to_sql_checked(ty, out),
                Type::INT8 => i64::from(*v).to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Int16(v) => match *ty {
                Type::INT4 => i32::from(*v).to_sql_checked(ty, out),
                Type::INT8 => i64::from(*v).to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Int32(v) => match *ty {
                Type::INT8 => i64::from(*v).to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Int64(v) => v.to_sql_checked(ty, out),
            Param::Float32(v) => match *ty {
                Type::FLOAT8 => f64::from(*v).to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Float64(v) => v.to_sql_checked(ty, out),
            Param::Str(v) => v.to_sql_checked(ty, out),
            Param::Binary(v) => v.to_sql_checked(ty, out),
            Param::Date(v) => v.to_sql_checked(ty, out),
            Param::Time(v) => v.to_sql_checked(ty, out),
            Param::DateTime(v) => match *ty {
                Type::TIMESTAMPTZ => v.and_utc().to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Timestamp(v) => match *ty {
                Type::TIMESTAMP => v.naive_utc().to_sql_checked(ty, out),
                Type::INT8 => v.timestamp().to_sql_checked(ty, out),
                _ => v.to_sql_checked(ty, out),
            },
            Param::Uuid(v) => v.to_sql_checked(ty, out),
            Param::Json(v) => v.to_sql_checked(ty, out),
            Param::Decimal(v) => v.to_sql_checked(ty, out),
            Param::RangeInt32(v) => v.to_sql_checked(ty, out),
            Param::RangeInt64(v) => v.to_sql_checked(ty, out),
            Param::RangeDecimal(v) => v.to_sql_checked(ty, out),
            Param::ArrayInt32(v) => v.to_sql_checked(ty, out),
            Param::ArrayInt64(v) => v.to_sql_checked(ty, out),
            Param::ArrayDecimal(v) => v.to_sql_checked(ty, out),
            Param::ArrayStr(v) => v.to_sql_checked(ty, out),
            Param::Interval(v) => v.to_sql_checked(ty, out),
        }
    }
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut Buf) -> Result<IsNull, BoxError> {
        self.encode(ty, out)
    }

    /// Each variant checks its own type in `encode`.
    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut Buf) -> Result<IsNull, BoxError> {
        self.encode(ty, out)
    }
}

fn date((year, month, day): (i32, u8, u8)) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(year, month.into(), day.into())
        .ok_or_else(|| format!("invalid date {year}-{month}-{day}"))
}

fn time((hour, minute, second, nanos): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
        .ok_or_else(|| format!("invalid time {hour}:{minute}:{second}.{nanos:09}"))
}

fn decimal(text: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text).map_err(|e| format!("invalid decimal {text}: {e}"))
}

fn bound<S: BoundSided, T: PartialOrd>((value, kind): (T, RangeBoundKind)) -> RangeBound<S, T> {
    let kind = match kind {
        RangeBoundKind::Inclusive => BoundType::Inclusive,
        RangeBoundKind::Exclusive => BoundType::Exclusive,
    };
    RangeBound::new(value, kind)
}

fn wit_bound<S: BoundSided, T, U>(
    bound: &RangeBound<S, T>,
    value: impl Fn(&T) -> U,
) -> (U, RangeBoundKind) {
    let kind = match bound.type_ {
        BoundType::Inclusive => RangeBoundKind::Inclusive,
        BoundType::Exclusive => RangeBoundKind::Exclusive,
    };
    (value(&bound.value), kind)
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn wit_range<T, U>(range: &Range<T>, value: impl Fn(&T) -> U) -> WitRange<U>
where
    T: PartialOrd + Normalizable,
{
    (
        range.lower().map(|b| wit_bound(b, &value)),
        range.upper().map(|b| wit_bound(b, &value)),
    )
}

/// A `numeric` usable as a range bound (the range crate needs `Normalizable`; a numeric range
/// is continuous, so a bound stays as given).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(super) struct RangeDecimal(Decimal);

impl Normalizable for RangeDecimal {
    fn normalize<S: BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl ToSql for RangeDecimal {
    fn to_sql(&self, ty: &Type, out: &mut Buf) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for RangeDecimal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Decimal::from_sql(ty, raw).map(RangeDecimal)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as FromSql>::accepts(ty)
    }
}

/// PostgreSQL's `interval`: microseconds, days and months, kept apart as the server keeps them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Interval {
    micros: i64,
    days: i32,
    months: i32,
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut Buf) -> Result<IsNull, BoxError> {
        use bytes::BufMut;
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let field = |at: usize, len: usize| {
            raw.get(at..at + len)
                .ok_or("an interval is 16 bytes in binary format")
        };
        if raw.len() != 16 {
            return Err("an interval is 16 bytes in binary format".into());
        }
        Ok(Interval {
            micros: i64::from_be_bytes(field(0, 8)?.try_into()?),
            days: i32::from_be_bytes(field(8, 4)?.try_into()?),
            months: i32::from_be_bytes(field(12, 4)?.try_into()?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Either timestamp type, as the date and time it is in UTC.
struct AnyTimestamp(NaiveDateTime);

impl<'a> FromSql<'a> for AnyTimestamp {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        match *ty {
            Type::TIMESTAMPTZ => DateTime::<Utc>::from_sql(ty, raw).map(|t| Self(t.naive_utc())),
            _ => NaiveDateTime::from_sql(ty, raw).map(Self),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }
}

/// A value of a type the interface has no variant for: its bytes as the server sent them.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The interface's data type for a column of type `ty`.
pub(super) fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Column `index` of `row` (`db-null` for SQL NULL), or why it cannot be read.
pub(super) fn value(row: &Row, index: usize) -> Result<DbValue, String> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        variant: impl FnOnce(T) -> DbValue,
    ) -> Result<DbValue, String> {
        let value: Option<T> = row
            .try_get(index)
            .map_err(|e| super::pool::error_chain(&e))?;
        Ok(value.map_or(DbValue::DbNull, variant))
    }
    let ty = row.columns()[index].type_().clone();
    match ty {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::DATE => get(row, index, |d: NaiveDate| {
            DbValue::Date((d.year(), d.month() as u8, d.day() as u8))
        }),
        Type::TIME => get(row, index, |t: NaiveTime| DbValue::Time(wit_time(t))),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, index, |AnyTimestamp(t)| {
            let (h, mi, s, ns) = wit_time(t.time());
            DbValue::Datetime((t.year(), t.month() as u8, t.day() as u8, h, mi, s, ns))
        }),
        Type::UUID => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB => get(row, index, |j: serde_json::Value| {
            DbValue::Jsonb(serde_json::to_vec(&j).unwrap_or_default())
        }),
        Type::NUMERIC => get(row, index, |d: Decimal| DbValue::Decimal(d.to_string())),
        Type::INT4_RANGE => get(row, index, |r: Range<i32>| {
            DbValue::RangeInt32(wit_range(&r, |v| *v))
        }),
        Type::INT8_RANGE => get(row, index, |r: Range<i64>| {
            DbValue::RangeInt64(wit_range(&r, |v| *v))
        }),
        Type::NUM_RANGE => get(row, index, |r: Range<RangeDecimal>| {
            DbValue::RangeDecimal(wit_range(&r, |v| v.0.to_string()))
        }),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, index, |v: Vec<Option<Decimal>>| {
            DbValue::ArrayDecimal(v.iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, DbValue::ArrayStr)
        }
        Type::INTERVAL => get(row, index, |i: Interval| {
            DbValue::Interval(v4::Interval {
                micros: i.micros,
                days: i.days,
                months: i.months,
            })
        }),
        _ => get(row, index, |Raw(bytes)| DbValue::Unsupported(bytes)),
    }
}

fn wit_time(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

/// About how many bytes `value` holds, for the limit on a query's result.
pub(super) fn size(value: &DbValue) -> usize {
    let strings = |v: &[Option<String>]| v.iter().flatten().map(String::len).sum::<usize>();
    std::mem::size_of::<DbValue>()
        + match value {
            DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
            DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
            DbValue::ArrayInt32(v) => v.len() * 8,
            DbValue::ArrayInt64(v) => v.len() * 16,
            DbValue::ArrayDecimal(v) | DbValue::ArrayStr(v) => {
                v.len() * std::mem::size_of::<Option<String>>() + strings(v)
            }
            DbValue::RangeDecimal((lower, upper)) => {
                lower.as_ref().map_or(0, |b| b.0.len()) + upper.as_ref().map_or(0, |b| b.0.len())
            }
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(param: ParameterValue, ty: Type) -> Result<Vec<u8>, String> {
        let param = Param::from_wit(param)?;
        let mut out = Buf::new();
        param
            .to_sql_checked(&ty, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out.to_vec())
    }

    #[test]
    fn narrower_integers_and_floats_widen_to_the_column_type() {
        assert_eq!(
            encoded(ParameterValue::Int8(-2), Type::INT8).unwrap(),
            (-2i64).to_be_bytes()
        );
        assert_eq!(
            encoded(ParameterValue::Int16(7), Type::INT4).unwrap(),
            7i32.to_be_bytes()
        );
        assert_eq!(
            encoded(ParameterValue::Floating32(1.5), Type::FLOAT8).unwrap(),
            1.5f64.to_be_bytes()
        );
        let narrowing = encoded(ParameterValue::Int64(1), Type::INT4).unwrap_err();
        assert!(narrowing.contains("cannot convert"), "{narrowing}");
    }

    #[test]
    fn a_timestamp_is_seconds_since_the_epoch_for_every_column_type_that_holds_one() {
        assert_eq!(
            encoded(ParameterValue::Timestamp(86_400), Type::INT8).unwrap(),
            86_400i64.to_be_bytes()
        );
        // 2000-01-01 is PostgreSQL's epoch: 946684800 s after Unix's, in microseconds.
        let micros = (86_400i64 - 946_684_800) * 1_000_000;
        for ty in [Type::TIMESTAMP, Type::TIMESTAMPTZ] {
            assert_eq!(
                encoded(ParameterValue::Timestamp(86_400), ty).unwrap(),
                micros.to_be_bytes()
            );
        }
    }

    #[test]
    fn invalid_values_are_refused_before_sending() {
        for (param, says) in [
            (ParameterValue::Date((2023, 2, 30)), "invalid date"),
            (ParameterValue::Time((24, 0, 0, 0)), "invalid time"),
            (ParameterValue::Uuid("nope".into()), "invalid UUID"),
            (ParameterValue::Jsonb(b"{".to_vec()), "invalid JSON"),
            (ParameterValue::Decimal("1.2.3".into()), "invalid decimal"),
        ] {
            let error = Param::from_wit(param).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn intervals_keep_their_three_parts() {
        let bytes = encoded(
            ParameterValue::Interval(v4::Interval {
                micros: -1,
                days: 2,
                months: -3,
            }),
            Type::INTERVAL,
        )
        .unwrap();
        let back = Interval::from_sql(&Type::INTERVAL, &bytes).unwrap();
        assert_eq!(
            back,
            Interval {
                micros: -1,
                days: 2,
                months: -3
            }
        );
    }
}
