//! SQL Server source through tiberius (real TDS): connect, run the query as given and
//! stream its rows into a [`DesiredState`].

mod config;
mod error;

pub use config::{Timeouts, encryption_level, plaintext_warning, trust_warning};
pub use error::MssqlError;

use super::{BadRow, ColumnMap, DEFAULT_KEY_COLUMN, DesiredStateBuilder, SourceError};
use crate::model::DesiredState;
use crate::settings::MssqlSettings;
use config::Target;
use futures::TryStreamExt;
use tiberius::{Client, ColumnData, QueryItem, SqlBrowser};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// `server[\instance]:port/database` (no credentials), for plans and output. With a
/// named instance the port is the SQL Browser port (default 1434).
pub fn location(settings: &MssqlSettings) -> String {
    config::target(settings).location()
}

/// Runs `query` and folds its rows into a desired state.
pub async fn load(settings: &MssqlSettings, query: &str) -> Result<DesiredState, MssqlError> {
    load_with(settings, query, &Timeouts::default()).await
}

/// [`load`] with explicit timeouts.
pub async fn load_with(settings: &MssqlSettings, query: &str, timeouts: &Timeouts) -> Result<DesiredState, MssqlError> {
    load_keyed(settings, query, timeouts, DEFAULT_KEY_COLUMN).await
}

/// [`load_with`] with the HR key in `key_column`.
pub async fn load_keyed(
    settings: &MssqlSettings,
    query: &str,
    timeouts: &Timeouts,
    key_column: &str,
) -> Result<DesiredState, MssqlError> {
    let mut builder = DesiredStateBuilder::new();
    let (names, _) = run(settings, query, timeouts, key_column, |raw| builder.push(raw)).await?;
    builder.set_columns(ColumnMap::with_key_column(&names, key_column)?.columns());
    Ok(builder.finish())
}

/// What `check` can report about the source without planning anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub location: String,
    /// Column names as the query returned them.
    pub columns: Vec<String>,
    pub rows: u64,
}

/// Connects, runs `query` and reads every row as [`load`] does, keeping only counts.
pub async fn probe(settings: &MssqlSettings, query: &str, timeouts: &Timeouts) -> Result<Probe, MssqlError> {
    let mut rows = 0;
    let (columns, location) = run(settings, query, timeouts, DEFAULT_KEY_COLUMN, |_| rows += 1).await?;
    Ok(Probe { location, columns, rows })
}

type TdsClient = Client<Compat<TcpStream>>;

async fn connect(config: tiberius::Config, target: &Target, timeouts: &Timeouts) -> Result<TdsClient, MssqlError> {
    let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect_named(&config))
        .await
        .map_err(|_| error::connect_timeout(target, timeouts.connect))?
        .map_err(|e| error::connect_error(&e, target))?;
    let _ = tcp.set_nodelay(true);
    // tiberius bounds the handshake itself; the outer bound is a safety net.
    let handshake = timeouts.handshake + std::time::Duration::from_secs(1);
    match tokio::time::timeout(handshake, Client::connect(config, tcp.compat_write())).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(error::handshake_error(&e, target)),
        Err(_) => Err(error::handshake_error(
            &tiberius::error::Error::Io {
                kind: std::io::ErrorKind::TimedOut,
                message: format!("no answer within {}s", timeouts.handshake.as_secs()),
            },
            target,
        )),
    }
}

/// Streams the rows of `query` through `sink` (never holding the result set) and
/// returns the column names and the location.
async fn run(
    settings: &MssqlSettings,
    query: &str,
    timeouts: &Timeouts,
    key_column: &str,
    mut sink: impl FnMut(super::RawRow),
) -> Result<(Vec<String>, String), MssqlError> {
    let (config, target) = config::build(settings, timeouts)?;
    let mut client = connect(config, &target, timeouts).await?;
    let qerr = |e: tiberius::error::Error| error::query_error(&e, &target);
    let mut stream = client.simple_query(query).await.map_err(qerr)?;
    let mut columns: Option<(Vec<String>, ColumnMap)> = None;
    let mut bad = Vec::new();
    let mut row_no = 0u64;
    while let Some(item) = stream.try_next().await.map_err(qerr)? {
        match item {
            QueryItem::Metadata(meta) => {
                if columns.is_some() {
                    return Err(MssqlError::SeveralResultSets);
                }
                let names: Vec<String> = meta.columns().iter().map(|c| c.name().to_owned()).collect();
                let map = ColumnMap::with_key_column(&names, key_column)?;
                columns = Some((names, map));
            }
            QueryItem::Row(row) => {
                let Some((names, map)) = &columns else {
                    return Err(MssqlError::NoResultSet);
                };
                row_no += 1;
                let cells: Vec<&ColumnData<'static>> = row.cells().map(|(_, d)| d).collect();
                let mut row_bad = Vec::new();
                let raw = map.row(|i| match cells.get(i).map(|d| cell_text(d)) {
                    Some(Ok(text)) => text,
                    Some(Err(found)) => {
                        row_bad.push(BadRow { row: row_no, column: names[i].clone(), found: found.to_owned() });
                        None
                    }
                    None => None,
                });
                if row_bad.is_empty() {
                    sink(raw);
                } else {
                    bad.extend(row_bad);
                }
            }
        }
    }
    drop(stream);
    // The result is complete; a failure to say goodbye does not matter.
    let _ = client.close().await;
    let Some((names, _)) = columns else {
        return Err(MssqlError::NoResultSet);
    };
    if !bad.is_empty() {
        return Err(SourceError::BadRows { rows: bad }.into());
    }
    Ok((names, target.location()))
}

/// The text of a cell (`None` for NULL), or what it holds when it cannot be text.
/// Numbers and bits read as SQL Server's own `CAST(... AS NVARCHAR)` would show them.
pub fn cell_text(data: &ColumnData<'_>) -> Result<Option<String>, &'static str> {
    Ok(match data {
        ColumnData::String(s) => s.as_ref().map(|s| s.to_string()),
        ColumnData::U8(v) => v.map(|v| v.to_string()),
        ColumnData::I16(v) => v.map(|v| v.to_string()),
        ColumnData::I32(v) => v.map(|v| v.to_string()),
        ColumnData::I64(v) => v.map(|v| v.to_string()),
        ColumnData::F32(v) => v.map(|v| v.to_string()),
        ColumnData::F64(v) => v.map(|v| v.to_string()),
        ColumnData::Bit(v) => v.map(|b| if b { "1" } else { "0" }.to_owned()),
        ColumnData::Numeric(v) => v.map(|n| n.to_string()),
        ColumnData::Guid(v) => v.map(|g| g.to_string().to_uppercase()),
        ColumnData::Binary(None) | ColumnData::Xml(None) => None,
        ColumnData::DateTime(None)
        | ColumnData::SmallDateTime(None)
        | ColumnData::Time(None)
        | ColumnData::Date(None)
        | ColumnData::DateTime2(None)
        | ColumnData::DateTimeOffset(None) => None,
        ColumnData::Binary(Some(_)) => return Err("binary data"),
        ColumnData::Xml(Some(_)) => return Err("an XML value"),
        ColumnData::DateTime(_)
        | ColumnData::SmallDateTime(_)
        | ColumnData::Time(_)
        | ColumnData::Date(_)
        | ColumnData::DateTime2(_)
        | ColumnData::DateTimeOffset(_) => return Err("a date/time value"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn cells_read_as_text() {
        assert_eq!(cell_text(&ColumnData::String(Some(Cow::Borrowed("Zoë")))), Ok(Some("Zoë".into())));
        assert_eq!(cell_text(&ColumnData::String(None)), Ok(None));
        assert_eq!(cell_text(&ColumnData::I32(Some(42))), Ok(Some("42".into())));
        assert_eq!(cell_text(&ColumnData::Bit(Some(true))), Ok(Some("1".into())));
        assert_eq!(cell_text(&ColumnData::Bit(None)), Ok(None));
        assert_eq!(
            cell_text(&ColumnData::Numeric(Some(tiberius::numeric::Numeric::new_with_scale(1234, 2)))),
            Ok(Some("12.34".into()))
        );
        assert_eq!(cell_text(&ColumnData::Binary(Some(Cow::Borrowed(&[1, 2][..])))), Err("binary data"));
        assert_eq!(cell_text(&ColumnData::Binary(None)), Ok(None));
    }
}
