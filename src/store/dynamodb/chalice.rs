//! Reading the original Chalice sample's two tables (users: `username` with PBKDF2 fields `hash`,
//! `salt`, `rounds`, `hashed`; todos: `username`, `uid`, `description`, `state`, `metadata`) for
//! `checkoff import-chalice`. An offline copy, so a Scan is the right tool here.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use super::error::failed;
use super::items::Item;
use crate::domain::{
    Description, Metadata, Position, Timestamp, Todo, TodoState, User, Username, legacy_pbkdf2_phc,
};
use crate::store::StoreError;

/// One page of a table: the records that could be read (or why one could not) and where the next
/// page starts.
pub struct ScanPage<T> {
    pub records: Vec<Result<T, String>>,
    pub next: Option<Item>,
}

async fn scan(
    client: &Client,
    table: &str,
    start: Option<Item>,
) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let page = client
        .scan()
        .table_name(table)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(failed("Scan"))?;
    Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
}

pub async fn scan_users(
    client: &Client,
    table: &str,
    start: Option<Item>,
) -> Result<ScanPage<User>, StoreError> {
    let (items, next) = scan(client, table, start).await?;
    Ok(ScanPage {
        records: items.iter().map(user_from_chalice).collect(),
        next,
    })
}

pub async fn scan_todos(
    client: &Client,
    table: &str,
    start: Option<Item>,
) -> Result<ScanPage<Todo>, StoreError> {
    let (items, next) = scan(client, table, start).await?;
    Ok(ScanPage {
        records: items.iter().map(todo_from_chalice).collect(),
        next,
    })
}

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        _ => Err(format!("{name} is missing or not a string")),
    }
}

/// Binary attributes as boto3 wrote them; base64 text is accepted too.
fn bytes(item: &Item, name: &str) -> Result<Vec<u8>, String> {
    match item.get(name) {
        Some(AttributeValue::B(blob)) => Ok(blob.clone().into_inner()),
        Some(AttributeValue::S(text)) => STANDARD.decode(text).map_err(|e| format!("{name}: {e}")),
        _ => Err(format!("{name} is missing or not binary")),
    }
}

fn user_from_chalice(item: &Item) -> Result<User, String> {
    let name = text(item, "username")?;
    let describe = |why: String| format!("user {name:?}: {why}");
    let rounds = match item.get("rounds") {
        Some(AttributeValue::N(n)) => n
            .parse::<u32>()
            .map_err(|e| describe(format!("rounds: {e}")))?,
        _ => return Err(describe("rounds is missing or not a number".into())),
    };
    let hash_name = text(item, "hash").map_err(describe)?;
    let salt = bytes(item, "salt").map_err(describe)?;
    let hashed = bytes(item, "hashed").map_err(describe)?;
    Ok(User {
        username: Username::parse_account(name).map_err(|e| describe(e.0))?,
        password_hash: legacy_pbkdf2_phc(hash_name, &salt, rounds, &hashed)
            .map_err(|e| describe(e.0))?,
        email: None,
        admin: false,
        created_at: Timestamp::now(),
        revoked: Default::default(),
        usage: Default::default(),
        zone: None,
    })
}

fn todo_from_chalice(item: &Item) -> Result<Todo, String> {
    let uid = text(item, "uid")?;
    let describe = |why: String| format!("todo {uid:?}: {why}");
    let metadata = match item.get("metadata") {
        None | Some(AttributeValue::Null(_)) => Metadata::default(),
        Some(value) => Metadata::parse(to_json(value)).map_err(|e| describe(e.0))?,
    };
    let now = Timestamp::now();
    let uid = Uuid::parse_str(uid).map_err(|e| describe(e.to_string()))?;
    let state = text(item, "state")
        .map_err(describe)?
        .parse::<TodoState>()
        .map_err(|e| describe(e.0))?;
    let username =
        Username::parse(text(item, "username").map_err(describe)?).map_err(|e| describe(e.0))?;
    Ok(Todo {
        uid,
        list: crate::domain::ListId::inbox_of(&username),
        created_by: None,
        updated_by: None,
        username,
        description: Description::parse(text(item, "description").map_err(describe)?)
            .map_err(|e| describe(e.0))?,
        state,
        metadata,
        created_at: now,
        updated_at: now,
        version: 1,
        title: None,
        notes: None,
        priority: Default::default(),
        due: None,
        // The sample's uids are random: its todos keep the order they are imported in only by
        // chance, as they had none.
        position: Position::of_new(uid),
        completed_at: (state == TodoState::Completed).then_some(now),
    })
}

fn number(text: &str) -> Value {
    text.parse::<i64>()
        .map(Value::from)
        .or_else(|_| text.parse::<u64>().map(Value::from))
        .ok()
        .or_else(|| {
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        })
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// A DynamoDB attribute as JSON: numbers as numbers, binaries as base64 text, sets as arrays.
pub fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(text) => number(text),
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::L(list) => Value::Array(list.iter().map(to_json).collect()),
        AttributeValue::Ss(texts) => {
            Value::Array(texts.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(numbers) => Value::Array(numbers.iter().map(|n| number(n)).collect()),
        AttributeValue::B(blob) => Value::String(STANDARD.encode(blob.as_ref())),
        AttributeValue::Bs(blobs) => Value::Array(
            blobs
                .iter()
                .map(|b| Value::String(STANDARD.encode(b.as_ref())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::primitives::Blob;
    use serde_json::json;

    use super::*;

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    #[test]
    fn attributes_become_the_json_they_mean() {
        let value = AttributeValue::M(HashMap::from([
            ("n".into(), AttributeValue::N("3".into())),
            ("f".into(), AttributeValue::N("1.5".into())),
            (
                "l".into(),
                AttributeValue::L(vec![
                    s("a"),
                    AttributeValue::Bool(true),
                    AttributeValue::Null(true),
                ]),
            ),
            ("b".into(), AttributeValue::B(Blob::new(b"hi".to_vec()))),
        ]));
        assert_eq!(
            to_json(&value),
            json!({"n": 3, "f": 1.5, "l": ["a", true, null], "b": "aGk="})
        );
    }

    #[test]
    fn an_original_user_record_keeps_its_pbkdf2_fields() {
        let item = HashMap::from([
            ("username".into(), s("myusername")),
            ("hash".into(), s("sha256")),
            ("salt".into(), AttributeValue::B(Blob::new(vec![1; 32]))),
            ("rounds".into(), AttributeValue::N("100000".into())),
            ("hashed".into(), AttributeValue::B(Blob::new(vec![2; 32]))),
        ]);
        let user = user_from_chalice(&item).unwrap();
        assert!(
            user.password_hash
                .starts_with("$pbkdf2-sha256$i=100000,l=32$"),
            "{}",
            user.password_hash
        );
    }

    #[test]
    fn a_broken_todo_record_is_reported() {
        let item = HashMap::from([
            ("username".into(), s("a")),
            ("uid".into(), s("e25643f7-0b18-47d2-b124-4e6713ab527c")),
            ("description".into(), s("x")),
            ("state".into(), s("finished")),
        ]);
        assert!(todo_from_chalice(&item).unwrap_err().contains("state"));
    }
}
