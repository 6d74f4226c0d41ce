//! The single-table layout, and the mapping between domain values and DynamoDB items.
//!
//! | item | PK | SK | GSI1PK | GSI1SK | LSI1SK |
//! |---|---|---|---|---|---|
//! | user | `USER#<name>` | `PROFILE` | `USERS` | `<name>` | — |
//! | todo | `USER#<name>` | `TODO#<uid>` | `STATE#<state>#<shard>` | `<created_at>#<uid>` | `<state>#<uid>` |
//! | session | `USER#<name>` | `SESSION#<id>` | `SESSION#<id>` | `<name>` | — |
//! | login failures | `THROTTLE#<user or address>` | `FAILURES` | — | — | — |
//! | idempotency record | `USER#<name>` | `IDEM#<key>` | — | — | — |
//! | list | `USER#<owner>` | `LIST#<id>` | — | — | — |
//! | list member | `USER#<owner>` | `MEMBER#<list>#<member>` | — | — | — |
//! | list shared with me | `USER#<member>` | `GRANT#<list>` | — | — | — |
//! | change-log entry | `USER#<owner or member>` | `CHANGE#<ms>#<entry id>` | — | — | — |
//!
//! A user's todos, lists and sessions share the profile's partition, so deleting a user is one Query
//! away from all of it. Ended sessions are recorded on the profile as `rv_<id>` = Unix second
//! until which their access tokens are refused: the authorizer reads the profile anyway. Session
//! and throttle items carry `expires` (Unix seconds), the table's TTL attribute.
//!
//! GSI1 serves the admin view of todos by state, spread over [`SHARDS`] partitions per state (the
//! shard is taken from the uid's random tail) so one busy state is never one hot partition; it
//! also lists users by name without a Scan. LSI1 lists one user's todos in one state, in creation
//! order, with strongly consistent reads.
//!
//! Planning attributes of a todo, each left out when it has none (so items written before they
//! existed read as todos without them): `title`, `notes`, `priority` (1–3; none is absent),
//! `due_day` (`2026-12-24`) or `due_at` + `due_tz` + `due_utc` (the local time, its IANA zone
//! and the UTC instant it named when written), `position` (absent: the uid's, i.e. creation
//! order) and `completed_at`. An existing table needs nothing: no key or index changed.
//!
//! Lists: a todo's `list` attribute names the list it is in; absent, it is in its owner's Inbox,
//! which is never stored (its id follows from the owner's name), so todos written before lists
//! existed are in the Inbox and an existing table needs nothing. Each other list is an item of
//! its own (`name`, `created_at`, `updated_at`, `version`) that every write putting a todo in it
//! checks in the same transaction (a `ConditionCheck`: there, and not `deleting`). Deleting a
//! list marks it `deleting` first, so no todo can join it, then deletes its todos (found by a
//! filtered Query of the owner's partition) and last the item itself: a deletion cut short is
//! finished by the next one, and meanwhile the list is not shown.
//!
//! Sharing: a membership is two items written and deleted together in one transaction, the
//! member item in the owner's partition (who a list is shared with: one Query) and the grant in
//! the member's (the lists shared with me: one Query; may I reach list X: one GetItem), each
//! holding the owner, list, member, role and `since` (the member account's `created_at`, so a
//! later account of the same name inherits nothing). A grant counts only while its list item
//! exists: deleting a list deletes its memberships after its todos, and an account deleted
//! takes its partition (lists, members, grants) and, on its way, the other halves of its
//! memberships; a half left behind by a deletion cut short grants nothing.
//!
//! The change log (`GET /sync`): every write of todos, a list or a membership puts an entry in
//! the same TransactWriteItems, or for an update or delete that leaves a todo in its list, by a
//! PutItem just before the write (so a write is never without its entry), in the partition of
//! whose log it is — the owner's, or for a share the member's — with `expires` (TTL) 15 days on.
//! A todo entry holds `changed`, a string set of `<uid> <list or -> <left or ->` (one per todo
//! the transaction wrote: a bulk write's 99 todos share one entry), a list or grant entry `id`.
//! A sync is one Query of the SK range after its token's time less 30 s (a write given up after
//! 20 s commits within it; what changed then is sent again), then the changed todos by
//! BatchGetItem, a hundred to a request (or the partition once, past 300). An update or
//! delete reads the todo (for its list, which its entry names), puts the entry, then makes the
//! one UpdateItem/DeleteItem on condition that the todo is still in that list (and at the
//! `If-Match` version), so racing writers are ordered by DynamoDB, not retried; the write is
//! given up at 20 s from the entry's stamp. A create in the Inbox is the entry, then a Put. A
//! move is a transaction (the todo written on the version read, its entry, the new list's
//! check; 16 rounds against other writers), a create in another list too (Put, entry, list
//! check), and a bulk write does 99 todos to a transaction. An existing table needs nothing:
//! no key or index changed, and the TTL attribute is the one sessions use.
//!
//! Lists by due date, priority or position, and the views (today, overdue, upcoming, no date),
//! read the owner's whole todo partition today — one strongly consistent Query, 1 MB a page,
//! the state's LSI1 range when a state is asked — and filter and sort it in the service by the
//! same rules SQLite applies in SQL (`TodoQuery`). Its cost grows with the account's todos
//! (bounded by the quota, 10,000 by default: up to ~3 MB, ~750 read units, per such list), not
//! with the table. The indexes that would bound it by the page, when accounts grow large:
//!
//! | index | PK | SK | serves | write cost |
//! |---|---|---|---|---|
//! | GSI2 (sparse) | `DUE#<owner>` | `<due_day or due_utc>#<uid>` | views, `sort=due`, due bounds per user | +1 write unit per write of a todo that has or had a due |
//! | GSI3 (sparse) | `DUE#<shard>` | `<due_day or due_utc>#<uid>` | the admin view by date ("pending by date") | +1 write unit per write of a todo that has or had a due |
//! | GSI4 | `POS#<owner>` | `<position>#<uid>` | `sort=position`, the neighbour of a move | +1 write unit per write of any todo |
//!
//! GSIs are eventually consistent (a todo just made might miss the next view), can be added to
//! a live table (`UpdateTable`, backfilled by DynamoDB) and, once lists exist, key on the list
//! rather than the owner. Each would be projected `ALL` (a page is one Query, no fetch).
//!
//! Search (`q=`) reads the same partition the same way and keeps the todos whose words match
//! (`domain::Search`, the rules SQLite's FTS5 index follows): never a Scan, never another
//! account's items, and a cost that grows with the caller's todos, as above. Past that, the
//! next step is word items in the owner's partition (`PK = USER#<owner>`, `SK =
//! WORD#<word>#<uid>`, written in the same transaction as the todo: +1 write unit per word
//! added or removed by a write), which answer each word's prefix with one Query of `begins_with`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::domain::{
    Description, Due, Email, ListId, ListName, Membership, Metadata, Notes, Position, Priority,
    Revocations, Role, Session, Timestamp, Title, Todo, TodoList, TodoState, Usage, User, Username,
    Zone,
};
use crate::store::{Remembered, StoreError};

pub(super) type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const LSI1: &str = "LSI1";
pub const LSI1SK: &str = "LSI1SK";
/// Every attribute a key or index is made of (all strings); the table and the SAM template
/// both define them from here.
pub const KEY_ATTRIBUTES: [&str; 5] = [PK, SK, GSI1PK, GSI1SK, LSI1SK];

pub(super) const PROFILE: &str = "PROFILE";
pub(super) const TODO_PREFIX: &str = "TODO#";
pub(super) const LIST_PREFIX: &str = "LIST#";
pub(super) const MEMBER_PREFIX: &str = "MEMBER#";
pub(super) const GRANT_PREFIX: &str = "GRANT#";
/// Set on a list being deleted: no todo may join it, and it is not shown.
pub(super) const DELETING: &str = "deleting";
pub(super) const USERS_PARTITION: &str = "USERS";
pub(super) const SESSION_PREFIX: &str = "SESSION#";
/// Prefix of the profile attributes that record ended sessions.
pub(super) const REVOKED_PREFIX: &str = "rv_";
/// The profile's login generation (absent: 0) and the session the last new generation kept.
pub(super) const LOGIN_GENERATION: &str = "login_gen";
pub(super) const KEPT_SESSION: &str = "kept_session";
/// What the account holds (absent: nothing), kept by the store with every write of a todo and
/// never written with the rest of the profile.
pub(super) const TODO_COUNT: &str = "todo_count";
pub(super) const TODO_BYTES: &str = "todo_bytes";
/// A session's login generation (absent: 0).
pub(super) const SESSION_GENERATION: &str = "gen";
/// The table's time-to-live attribute: DynamoDB deletes an item some time after this second.
pub const EXPIRES: &str = "expires";

/// Partitions per state in GSI1. Fixed: changing it means re-keying every todo.
pub const SHARDS: u8 = 8;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `query` of the items of partition `pk` whose sort key `key` (`SK`, or an index's) starts
/// with `prefix`, as the range from `prefix` to just past it. DynamoDB Local answers
/// `begins_with` by walking the partition from its start: behind a user's change log (an entry
/// per write for 15 days, sorted before everything else) a page of 10 todos took 35 ms at
/// 100,000 entries, where the range takes 3 ms. On DynamoDB both are one range of the key.
pub(super) fn starting_with(
    query: QueryFluentBuilder,
    key: &str,
    pk: AttributeValue,
    prefix: impl Into<String>,
) -> QueryFluentBuilder {
    let prefix = prefix.into();
    let end = prefix_end(&prefix);
    query
        .key_condition_expression(format!("PK = :pk AND {key} BETWEEN :from AND :to"))
        .expression_attribute_values(":pk", pk)
        .expression_attribute_values(":from", s(prefix))
        .expression_attribute_values(":to", s(end))
}

/// A string after every other that starts with `prefix` (DynamoDB orders strings by their
/// UTF-8 bytes): its last character made the next one, e.g. `TODO#` → `TODO$`. (`BETWEEN`
/// includes its end, and no key is a prefix's end: every key goes on after its `#`.)
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    match end.pop() {
        Some(last) if last.is_ascii() && last != '\x7f' => end.push(char::from(last as u8 + 1)),
        Some(last) => {
            end.push(last);
            end.push(char::MAX);
        }
        None => end.push(char::MAX),
    }
    end
}

pub(super) fn user_pk(name: &Username) -> AttributeValue {
    s(format!("USER#{name}"))
}

fn todo_sk(uid: &str) -> AttributeValue {
    s(format!("{TODO_PREFIX}{uid}"))
}

/// The primary key of a user's profile item.
pub(super) fn profile_key(name: &Username) -> Item {
    HashMap::from([(PK.into(), user_pk(name)), (SK.into(), s(PROFILE))])
}

/// The primary key of one todo.
pub(super) fn todo_key(owner: &Username, uid: &str) -> Item {
    HashMap::from([(PK.into(), user_pk(owner)), (SK.into(), todo_sk(uid))])
}

/// The primary key of one of `owner`'s lists.
pub(super) fn list_key(owner: &Username, id: ListId) -> Item {
    HashMap::from([
        (PK.into(), user_pk(owner)),
        (SK.into(), s(format!("{LIST_PREFIX}{id}"))),
    ])
}

pub(super) fn list_item(list: &TodoList) -> Item {
    let mut item = list_key(&list.owner, list.id);
    item.insert("id".into(), s(list.id.to_string()));
    item.insert("owner".into(), s(list.owner.as_str()));
    item.insert("name".into(), s(list.name.as_str()));
    item.insert("created_at".into(), s(list.created_at.to_string()));
    item.insert("updated_at".into(), s(list.updated_at.to_string()));
    item.insert("version".into(), n(list.version));
    item
}

/// The key of a membership in the owner's partition.
pub(super) fn member_key(owner: &Username, list: ListId, member: &Username) -> Item {
    HashMap::from([
        (PK.into(), user_pk(owner)),
        (SK.into(), s(format!("{MEMBER_PREFIX}{list}#{member}"))),
    ])
}

/// The key of a membership in the member's partition.
pub(super) fn grant_key(member: &Username, list: ListId) -> Item {
    HashMap::from([
        (PK.into(), user_pk(member)),
        (SK.into(), s(format!("{GRANT_PREFIX}{list}"))),
    ])
}

/// A membership's two items: the owner's, then the member's.
pub(super) fn membership_items(m: &Membership) -> [Item; 2] {
    [
        member_key(&m.owner, m.list, &m.member),
        grant_key(&m.member, m.list),
    ]
    .map(|mut item| {
        item.insert("owner".into(), s(m.owner.as_str()));
        item.insert("list".into(), s(m.list.to_string()));
        item.insert("member".into(), s(m.member.as_str()));
        item.insert("role".into(), s(m.role.as_str()));
        item.insert("since".into(), s(m.since.to_string()));
        item.insert("added_at".into(), s(m.added_at.to_string()));
        item
    })
}

pub(super) fn membership_from_item(item: &Item) -> Result<Membership, StoreError> {
    let r = Reader {
        item,
        what: "membership",
    };
    Ok(Membership {
        owner: r.parsed("owner", Username::parse)?,
        list: r.parsed("list", ListId::parse)?,
        member: r.parsed("member", Username::parse)?,
        role: r.parsed("role", Role::of_member)?,
        since: r.parsed("since", Timestamp::parse)?,
        added_at: r.parsed("added_at", Timestamp::parse)?,
    })
}

/// The list an item holds; `None` for one being deleted.
pub(super) fn list_from_item(item: &Item) -> Result<Option<TodoList>, StoreError> {
    if item.contains_key(DELETING) {
        return Ok(None);
    }
    let r = Reader { item, what: "list" };
    Ok(Some(TodoList {
        id: r.parsed("id", ListId::parse)?,
        owner: r.parsed("owner", Username::parse)?,
        name: r.parsed("name", ListName::from_stored)?,
        created_at: r.parsed("created_at", Timestamp::parse)?,
        updated_at: r.parsed("updated_at", Timestamp::parse)?,
        version: r.number("version")?,
    }))
}

/// The list a todo item names: its owner's Inbox when it names none.
pub(super) fn list_of_item(item: &Item, owner: &Username) -> Result<ListId, StoreError> {
    let r = Reader { item, what: "todo" };
    Ok(r.optional("list", ListId::parse)?
        .unwrap_or_else(|| ListId::inbox_of(owner)))
}

/// The primary key of one session.
pub(super) fn session_key(owner: &Username, id: Uuid) -> Item {
    HashMap::from([
        (PK.into(), user_pk(owner)),
        (SK.into(), s(format!("{SESSION_PREFIX}{id}"))),
    ])
}

/// The key of the login failures recorded under `key`.
pub(super) fn failures_key(key: &str) -> Item {
    HashMap::from([
        (PK.into(), s(format!("THROTTLE#{key}"))),
        (SK.into(), s("FAILURES")),
    ])
}

/// The key of the record kept for an owner's idempotency key.
pub(super) fn remembered_key(owner: &Username, key: &str) -> Item {
    HashMap::from([
        (PK.into(), user_pk(owner)),
        (SK.into(), s(format!("IDEM#{key}"))),
    ])
}

pub(super) fn remembered_item(answer: &Remembered) -> Item {
    let mut item = remembered_key(&answer.owner, &answer.key);
    item.insert("owner".into(), s(answer.owner.as_str()));
    item.insert("key".into(), s(&answer.key));
    item.insert("fingerprint".into(), s(&answer.fingerprint));
    item.insert("answer".into(), s(&answer.answer));
    item.insert(EXPIRES.into(), n(answer.expires));
    item
}

pub(super) fn remembered_from_item(item: &Item) -> Result<Remembered, StoreError> {
    let r = Reader {
        item,
        what: "idempotency record",
    };
    Ok(Remembered {
        owner: r.parsed("owner", Username::parse)?,
        key: r.text("key")?.to_owned(),
        fingerprint: r.text("fingerprint")?.to_owned(),
        // Kept as `body` (beside a `status`) by earlier versions: such records live a day at most.
        answer: r.text("answer").or_else(|_| r.text("body"))?.to_owned(),
        expires: r.number(EXPIRES)?,
    })
}

/// The profile attribute that records session `id` as ended.
pub(super) fn revoked_attribute(id: Uuid) -> String {
    format!("{REVOKED_PREFIX}{}", id.simple())
}

pub(super) fn shard(uid: Uuid) -> u8 {
    uid.as_bytes()[15] % SHARDS
}

pub(super) fn state_partition(state: TodoState, uid: Uuid) -> AttributeValue {
    s(format!("STATE#{state}#{}", shard(uid)))
}

pub(super) fn state_sort_key(state: TodoState, uid: &str) -> AttributeValue {
    s(format!("{state}#{uid}"))
}

pub(super) fn user_item(user: &User) -> Item {
    let mut item = profile_key(&user.username);
    item.insert(GSI1PK.into(), s(USERS_PARTITION));
    item.insert(GSI1SK.into(), s(user.username.as_str()));
    item.insert("username".into(), s(user.username.as_str()));
    item.insert("password_hash".into(), s(&user.password_hash));
    item.insert("admin".into(), AttributeValue::Bool(user.admin));
    item.insert("created_at".into(), s(user.created_at.to_string()));
    if let Some(email) = &user.email {
        item.insert("email".into(), s(email.as_str()));
    }
    if let Some(zone) = &user.zone {
        item.insert("tz".into(), s(zone.name()));
    }
    item.insert(LOGIN_GENERATION.into(), n(user.revoked.generation()));
    if let Some(kept) = user.revoked.kept() {
        item.insert(KEPT_SESSION.into(), s(kept.to_string()));
    }
    item
}

pub(super) fn session_item(session: &Session) -> Item {
    let mut item = session_key(&session.owner, session.id);
    item.insert(GSI1PK.into(), s(format!("{SESSION_PREFIX}{}", session.id)));
    item.insert(GSI1SK.into(), s(session.owner.as_str()));
    item.insert("owner".into(), s(session.owner.as_str()));
    item.insert("id".into(), s(session.id.to_string()));
    item.insert("kind".into(), s(session.kind.as_str()));
    if let Some(hash) = &session.refresh_hash {
        item.insert("refresh_hash".into(), s(hash));
    }
    if let Some(routes) = &session.routes {
        item.insert(
            "routes".into(),
            AttributeValue::L(routes.iter().map(|r| s(r.as_str())).collect()),
        );
    }
    item.insert("created_at".into(), s(session.created_at.to_string()));
    item.insert("expires_at".into(), s(session.expires_at.to_string()));
    item.insert(EXPIRES.into(), n(session.expires_at.unix_seconds()));
    item.insert(SESSION_GENERATION.into(), n(session.generation));
    if let Some(hash) = &session.previous_hash {
        item.insert("previous_hash".into(), s(hash));
    }
    item
}

pub(super) fn todo_item(todo: &Todo) -> Item {
    let uid = todo.uid.to_string();
    let mut item = todo_key(&todo.username, &uid);
    item.insert(GSI1PK.into(), state_partition(todo.state, todo.uid));
    item.insert(GSI1SK.into(), s(format!("{}#{uid}", todo.created_at)));
    item.insert(LSI1SK.into(), state_sort_key(todo.state, &uid));
    item.insert("uid".into(), s(uid));
    item.insert("username".into(), s(todo.username.as_str()));
    item.insert("description".into(), s(todo.description.as_str()));
    item.insert("state".into(), s(todo.state.as_str()));
    item.insert("metadata".into(), s(todo.metadata.as_json()));
    item.insert("created_at".into(), s(todo.created_at.to_string()));
    item.insert("updated_at".into(), s(todo.updated_at.to_string()));
    item.insert("version".into(), n(todo.version));
    for (name, value) in plan_attributes(todo) {
        if let Some(value) = value {
            item.insert(name.into(), value);
        }
    }
    item
}

/// A todo's planning attributes, `None` for those it does not have (then left out of the
/// item, so that items written before they existed read the same).
fn plan_attributes(todo: &Todo) -> Vec<(&'static str, Option<AttributeValue>)> {
    let mut attributes = vec![
        ("title", todo.title.as_ref().map(|t| s(t.as_str()))),
        ("notes", todo.notes.as_ref().map(|t| s(t.as_str()))),
        ("priority", priority_attribute(todo.priority)),
        ("position", Some(s(todo.position.as_str()))),
        ("completed_at", todo.completed_at.map(|t| s(t.to_string()))),
        // The Inbox is named by leaving the list out, as todos made before lists are.
        (
            "list",
            (todo.list != ListId::inbox_of(&todo.username)).then(|| s(todo.list.to_string())),
        ),
        (
            "created_by",
            todo.created_by.as_ref().map(|by| s(by.as_str())),
        ),
        (
            "updated_by",
            todo.updated_by.as_ref().map(|by| s(by.as_str())),
        ),
    ];
    attributes.extend(due_attributes(todo.due.as_ref()));
    attributes
}

/// A priority as kept: 1–3, absent for none.
pub(super) fn priority_attribute(priority: Priority) -> Option<AttributeValue> {
    (priority != Priority::None).then(|| n(u64::from(priority.rank())))
}

/// The four attributes a due is kept in, each `None` where it has no value: the day, or the
/// local time, its zone and its UTC instant.
pub(super) fn due_attributes(due: Option<&Due>) -> [(&'static str, Option<AttributeValue>); 4] {
    let at = due.and_then(|d| d.at_text());
    [
        ("due_day", due.and_then(|d| d.day_text()).map(s)),
        ("due_at", at.as_ref().map(|a| s(&a.0))),
        ("due_tz", at.as_ref().map(|a| s(a.1))),
        ("due_utc", at.as_ref().map(|a| s(&a.2))),
    ]
}

/// Reads attributes of one item, naming the item in every complaint.
struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl Reader<'_> {
    fn corrupt(&self, why: impl std::fmt::Display) -> StoreError {
        let key = self
            .item
            .get(PK)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str);
        let sort = self
            .item
            .get(SK)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str);
        StoreError::Internal(format!(
            "stored {} {key}/{sort} is invalid: {why}",
            self.what
        ))
    }

    fn text(&self, name: &str) -> Result<&str, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::S(text)) => Ok(text),
            _ => Err(self.corrupt(format!("{name} is missing or not a string"))),
        }
    }

    fn number(&self, name: &str) -> Result<u64, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::N(number)) => number.parse().map_err(|e| self.corrupt(e)),
            _ => Err(self.corrupt(format!("{name} is missing or not a number"))),
        }
    }

    fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, StoreError> {
        parse(self.text(name)?).map_err(|e| self.corrupt(format!("{name}: {e}")))
    }

    /// A string attribute an item may leave out.
    fn text_or_none(&self, name: &str) -> Result<Option<&str>, StoreError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.text(name).map(Some),
        }
    }

    fn optional<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, StoreError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.parsed(name, parse).map(Some),
        }
    }
}

pub(super) fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let r = Reader { item, what: "user" };
    Ok(User {
        username: r.parsed("username", Username::parse)?,
        password_hash: r.text("password_hash")?.to_owned(),
        email: match item.get("email") {
            None => None,
            Some(_) => Some(r.parsed("email", Email::parse)?),
        },
        admin: matches!(item.get("admin"), Some(AttributeValue::Bool(true))),
        created_at: r.parsed("created_at", Timestamp::parse)?,
        revoked: revocations_of(item)?,
        usage: Usage {
            todos: number_or_zero(&r, TODO_COUNT)?,
            bytes: number_or_zero(&r, TODO_BYTES)?,
        },
        zone: match item.get("tz") {
            None => None,
            Some(_) => Some(r.parsed("tz", Zone::parse)?),
        },
    })
}

/// The ended sessions recorded on a profile item, and its login generation. An entry that does
/// not parse protects nothing and is skipped (it runs out like any other).
fn revocations_of(item: &Item) -> Result<Revocations, StoreError> {
    let r = Reader { item, what: "user" };
    let kept = match item.get(KEPT_SESSION) {
        None => None,
        Some(_) => Some(r.parsed(KEPT_SESSION, Uuid::parse_str)?),
    };
    let ended = Revocations::new(item.iter().filter_map(|(name, value)| {
        let id = Uuid::try_parse(name.strip_prefix(REVOKED_PREFIX)?).ok()?;
        let until = value.as_n().ok()?.parse().ok()?;
        Some((id, until))
    }));
    Ok(ended.with_generation(number_or_zero(&r, LOGIN_GENERATION)?, kept))
}

/// A number attribute that older items lack (then 0).
/// A count kept with `ADD`: absent is 0, and so is below 0 (a count a lost answer made drift
/// must not make the profile unreadable, which would lock the account out).
fn number_or_zero(r: &Reader<'_>, name: &str) -> Result<u64, StoreError> {
    match r.item.get(name) {
        None => Ok(0),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
            .map(|n| n.max(0).unsigned_abs())
            .ok_or_else(|| r.corrupt(format!("{name} is not a count"))),
    }
}

pub(super) fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let r = Reader {
        item,
        what: "session",
    };
    let routes = match item.get("routes") {
        None => None,
        Some(AttributeValue::L(list)) => Some(
            list.iter()
                .map(|v| v.as_s().cloned().map_err(|_| r.corrupt("routes")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(r.corrupt("routes is not a list")),
    };
    Ok(Session {
        owner: r.parsed("owner", Username::parse)?,
        id: r.parsed("id", Uuid::parse_str)?,
        kind: r.parsed("kind", str::parse)?,
        refresh_hash: match item.get("refresh_hash") {
            None => None,
            Some(_) => Some(r.text("refresh_hash")?.to_owned()),
        },
        routes,
        created_at: r.parsed("created_at", Timestamp::parse)?,
        expires_at: r.parsed("expires_at", Timestamp::parse)?,
        generation: number_or_zero(&r, SESSION_GENERATION)?,
        previous_hash: match item.get("previous_hash") {
            None => None,
            Some(_) => Some(r.text("previous_hash")?.to_owned()),
        },
    })
}

pub(super) fn todo_from_item(item: &Item) -> Result<Todo, StoreError> {
    let r = Reader { item, what: "todo" };
    let uid = r.parsed("uid", Uuid::parse_str)?;
    let username = r.parsed("username", Username::parse)?;
    Ok(Todo {
        uid,
        list: list_of_item(item, &username)?,
        created_by: r.optional("created_by", Username::parse)?,
        updated_by: r.optional("updated_by", Username::parse)?,
        username,
        description: r.parsed("description", Description::from_stored)?,
        state: r.parsed("state", str::parse::<TodoState>)?,
        metadata: r.parsed("metadata", Metadata::from_json)?,
        created_at: r.parsed("created_at", Timestamp::parse)?,
        updated_at: r.parsed("updated_at", Timestamp::parse)?,
        version: r.number("version")?,
        title: r.optional("title", Title::from_stored)?,
        notes: r.optional("notes", Notes::from_stored)?,
        priority: match item.get("priority") {
            None => Priority::None,
            Some(_) => {
                Priority::from_rank(r.number("priority")? as i64).map_err(|e| r.corrupt(e))?
            }
        },
        due: {
            let at = match (
                r.text_or_none("due_at")?,
                r.text_or_none("due_tz")?,
                r.text_or_none("due_utc")?,
            ) {
                (None, None, None) => None,
                (Some(local), Some(zone), Some(utc)) => Some((local, zone, utc)),
                _ => return Err(r.corrupt("due is missing its time, zone or instant")),
            };
            Due::from_stored(r.text_or_none("due_day")?, at).map_err(|e| r.corrupt(e))?
        },
        // Items written before positions existed stand where their uid puts them.
        position: match item.get("position") {
            None => Position::of_new(uid),
            Some(_) => r.parsed("position", Position::from_stored)?,
        },
        completed_at: r.optional("completed_at", Timestamp::parse)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_its_keys_and_no_other() {
        let end = prefix_end(TODO_PREFIX);
        assert_eq!(end, "TODO$");
        for inside in [
            "TODO#",
            "TODO#0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "TODO#\u{10FFFF}",
        ] {
            assert!(TODO_PREFIX <= inside && inside <= end.as_str(), "{inside}");
        }
        for outside in [
            "TODO",
            "TODN#z",
            "TODO$a",
            "TODP#",
            "CHANGE#1",
            "PROFILE",
            "SESSION#x",
        ] {
            assert!(
                !(TODO_PREFIX <= outside && outside <= end.as_str()),
                "{outside}"
            );
        }
        assert_eq!(prefix_end("a\u{e9}"), "a\u{e9}\u{10FFFF}");
    }

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    #[test]
    fn a_todo_survives_the_round_trip_through_an_item() {
        let mut todo = Todo::new(
            alice(),
            Description::parse("x").unwrap(),
            Metadata::default(),
        );
        todo.metadata = Metadata::parse(serde_json::json!({"a": [1, 2.5, "b"]})).unwrap();
        assert_eq!(todo_from_item(&todo_item(&todo)).unwrap(), todo);
        assert!(
            !todo_item(&todo).contains_key("list"),
            "the Inbox is left out"
        );
        todo.list = ListId::new();
        assert_eq!(todo_from_item(&todo_item(&todo)).unwrap(), todo);
    }

    #[test]
    fn a_list_survives_the_round_trip_and_one_being_deleted_is_not_read() {
        let list = TodoList::new(alice(), ListName::parse("Groceries").unwrap());
        let mut item = list_item(&list);
        assert_eq!(item[SK], s(format!("LIST#{}", list.id)));
        assert_eq!(list_from_item(&item).unwrap(), Some(list));
        item.insert(DELETING.into(), AttributeValue::Bool(true));
        assert_eq!(list_from_item(&item).unwrap(), None);
    }

    #[test]
    fn a_user_survives_the_round_trip_through_an_item() {
        let user = User {
            username: alice(),
            password_hash: "$argon2id$x".into(),
            email: Some(Email::parse("a@b.co").unwrap()),
            admin: true,
            created_at: Timestamp::now(),
            revoked: Default::default(),
            usage: Default::default(),
            zone: None,
        };
        assert_eq!(user_from_item(&user_item(&user)).unwrap(), user);
    }

    #[test]
    fn a_session_and_revocations_survive_the_round_trip() {
        let session = Session {
            owner: alice(),
            id: Uuid::new_v4(),
            kind: crate::domain::SessionKind::Api,
            refresh_hash: None,
            routes: Some(vec!["GET /todos*".into()]),
            created_at: Timestamp::now(),
            expires_at: Timestamp::now(),
            generation: 3,
            previous_hash: Some("ab".into()),
        };
        assert_eq!(session_from_item(&session_item(&session)).unwrap(), session);

        let user = User::new(alice(), "$argon2id$x".into(), None, false);
        let mut item = user_item(&user);
        item.insert(revoked_attribute(session.id), n(42));
        assert_eq!(
            user_from_item(&item).unwrap().revoked,
            Revocations::new([(session.id, 42)])
        );
    }

    #[test]
    fn todo_keys_follow_the_documented_layout() {
        let todo = Todo::new(
            alice(),
            Description::parse("x").unwrap(),
            Metadata::default(),
        );
        let item = todo_item(&todo);
        assert_eq!(item[PK], s("USER#alice"));
        assert_eq!(item[SK], s(format!("TODO#{}", todo.uid)));
        let partition = item[GSI1PK].as_s().unwrap();
        assert!(partition.starts_with("STATE#unstarted#"), "{partition}");
        let shard: u8 = partition.rsplit('#').next().unwrap().parse().unwrap();
        assert!(shard < SHARDS);
    }

    #[test]
    fn shards_spread_over_every_partition() {
        let mut seen = [false; SHARDS as usize];
        for _ in 0..500 {
            seen[shard(Uuid::now_v7()) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn a_broken_item_is_reported_not_served() {
        let todo = Todo::new(
            alice(),
            Description::parse("x").unwrap(),
            Metadata::default(),
        );
        let mut item = todo_item(&todo);
        item.insert("state".into(), s("done"));
        let err = todo_from_item(&item).unwrap_err().to_string();
        assert!(err.contains("state"), "{err}");
    }
}
