use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use super::plan::{Due, Notes, Position, Priority, Title};
use super::{Invalid, ListId, Timestamp, Username};

/// Where a todo stands. Anything else is refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum TodoState {
    Unstarted,
    Started,
    Completed,
}

impl TodoState {
    pub const ALL: [TodoState; 3] = [Self::Unstarted, Self::Started, Self::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unstarted => "unstarted",
            Self::Started => "started",
            Self::Completed => "completed",
        }
    }
}

impl super::Named for TodoState {
    const WHAT: &'static str = "state";
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl FromStr for TodoState {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        super::by_name(raw)
    }
}

impl TryFrom<String> for TodoState {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        raw.parse()
    }
}

impl fmt::Display for TodoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the todo says: trimmed, not empty, at most 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Description(String);

impl utoipa::PartialSchema for Description {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::text_schema(
            "What the todo says: 1–1,000 characters once trimmed (leading and trailing \
             whitespace is dropped), no control characters.",
            Self::PATTERN,
            None,
        )
        .into()
    }
}

impl ToSchema for Description {}

impl Description {
    pub const MAX_CHARS: usize = 1000;
    /// [`Description::parse`] as a regular expression: whitespace, then 1–1,000 characters
    /// without a control character that neither start nor end with whitespace, then whitespace.
    pub const PATTERN: &str = concat!(
        "^[",
        whitespace!(),
        "]*[^",
        control!(),
        whitespace!(),
        "]([^",
        control!(),
        "]{0,998}[^",
        control!(),
        whitespace!(),
        "])?[",
        whitespace!(),
        "]*$"
    );

    /// A description sent by a client: trimmed, not empty, at most [`Self::MAX_CHARS`], and
    /// without control characters (NUL, ESC, DEL, line breaks…), which would drive a terminal or
    /// a log that prints them.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        one_line("description", raw, Self::MAX_CHARS).map(Self)
    }

    /// A description read back from a store. Text stored before control characters were
    /// refused is still read (and still served as JSON, where they are escaped).
    pub fn from_stored(raw: &str) -> Result<Self, Invalid> {
        stored_line("description", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One line of text sent by a client (`what` names it): trimmed, not empty, at most `max`
/// characters, and without control characters (NUL, ESC, DEL, line breaks…), which would drive
/// a terminal or a log that prints them.
pub(super) fn one_line(what: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let text = raw.trim();
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(Invalid(format!(
            "{what} must not contain control characters (found U+{:04X})",
            u32::from(c)
        )));
    }
    stored_line(what, text, max)
}

/// [`one_line`] for text read back from a store: control characters stored before they were
/// refused are still read.
pub(super) fn stored_line(what: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(Invalid(format!("{what} must not be empty")));
    }
    if text.chars().count() > max {
        return Err(Invalid(format!("{what} must be at most {max} characters")));
    }
    Ok(text.to_owned())
}

impl TryFrom<String> for Description {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Description> for String {
    fn from(d: Description) -> String {
        d.0
    }
}

/// Free-form data the client keeps with a todo: a JSON object of at most 16 KiB (as compact JSON)
/// nested at most 8 levels deep. Held as that compact text, which is how the stores keep it and
/// how it is served, so reading a list never rebuilds it value by value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "Value")]
#[schema(value_type = Object)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    pub const MAX_BYTES: usize = 16 * 1024;
    pub const MAX_DEPTH: usize = 8;

    pub fn parse(value: Value) -> Result<Self, Invalid> {
        if !value.is_object() {
            return Err(Invalid("metadata must be a JSON object".into()));
        }
        if depth(&value) > Self::MAX_DEPTH {
            return Err(too_deep());
        }
        let text = value.to_string();
        if text.len() > Self::MAX_BYTES {
            return Err(too_big());
        }
        RawValue::from_string(text)
            .map(Self)
            .map_err(|e| Invalid(format!("metadata: {e}")))
    }

    /// Compact JSON text, the form both stores keep.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// Metadata as a store keeps it, checked again before it is served: valid JSON, an object,
    /// within the bounds.
    pub fn from_json(text: &str) -> Result<Self, Invalid> {
        if text.len() > Self::MAX_BYTES {
            return Err(too_big());
        }
        if !text.starts_with('{') {
            return Err(Invalid("metadata must be a JSON object".into()));
        }
        if text_depth(text) > Self::MAX_DEPTH {
            return Err(too_deep());
        }
        RawValue::from_string(text.to_owned())
            .map(Self)
            .map_err(|e| Invalid(format!("metadata: {e}")))
    }
}

fn too_deep() -> Invalid {
    Invalid(format!(
        "metadata must be nested at most {} levels deep",
        Metadata::MAX_DEPTH
    ))
}

fn too_big() -> Invalid {
    Invalid(format!(
        "metadata must be at most {} bytes as JSON",
        Metadata::MAX_BYTES
    ))
}

impl Default for Metadata {
    fn default() -> Self {
        Self(RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Eq for Metadata {}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The deepest nesting of objects and arrays in JSON text, brackets inside strings aside.
fn text_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

impl TryFrom<Value> for Metadata {
    type Error = Invalid;
    fn try_from(value: Value) -> Result<Self, Invalid> {
        Self::parse(value)
    }
}

/// One todo item as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Todo {
    #[schema(value_type = String, format = Uuid)]
    pub uid: Uuid,
    #[schema(value_type = String)]
    pub username: Username,
    /// The list it is in (the owner's Inbox unless another was chosen).
    pub list: ListId,
    pub description: Description,
    pub state: TodoState,
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Goes up by one with every change; the `ETag` of the item.
    pub version: u64,
    /// A one-line summary; `null` when none was given (old clients show the description).
    pub title: Option<Title>,
    /// Longer text; `null` when none.
    pub notes: Option<Notes>,
    pub priority: Priority,
    /// When it is due; `null` when it has no date.
    pub due: Option<Due>,
    pub position: Position,
    /// When it was last completed; `null` while it is not (cleared when it leaves
    /// `completed`).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    /// Who made it, when not its owner (`username`): a member of its shared list. Absent: the
    /// owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub created_by: Option<Username>,
    /// Who changed it last, when not its owner; absent: the owner (or nobody since it was
    /// made by `created_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub updated_by: Option<Username>,
}

/// The planning fields of a new todo, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub title: Option<Title>,
    pub notes: Option<Notes>,
    pub priority: Priority,
    pub due: Option<Due>,
}

impl Todo {
    /// A fresh item; its v7 uid sorts by creation time, which is what listing order relies on.
    pub fn new(username: Username, description: Description, metadata: Metadata) -> Self {
        Self::planned(username, description, metadata, Plan::default())
    }

    /// A fresh item with planning fields; it goes last in its owner's order.
    pub fn planned(
        username: Username,
        description: Description,
        metadata: Metadata,
        plan: Plan,
    ) -> Self {
        let now = Timestamp::now();
        let uid = Uuid::now_v7();
        Self {
            uid,
            list: ListId::inbox_of(&username),
            created_by: None,
            updated_by: None,
            username,
            description,
            state: TodoState::Unstarted,
            metadata,
            created_at: now,
            updated_at: now,
            version: 1,
            title: plan.title,
            notes: plan.notes,
            priority: plan.priority,
            due: plan.due,
            position: Position::of_new(uid),
            completed_at: None,
        }
    }

    /// What the item counts against its owner's byte allowance: its texts and metadata as
    /// stored (UTF-8, and the metadata's JSON text).
    pub fn stored_bytes(&self) -> u64 {
        (self.description.as_str().len()
            + self.metadata.as_json().len()
            + self.title.as_ref().map_or(0, |t| t.as_str().len())
            + self.notes.as_ref().map_or(0, |n| n.as_str().len())) as u64
    }

    /// The item after `patch`, stamped `now`, one version on.
    pub fn patched(mut self, patch: &TodoPatch, now: Timestamp) -> Self {
        if let Some(description) = &patch.description {
            self.description = description.clone();
        }
        if let Some(state) = patch.state {
            self.completed_at = completed_at(self.state, self.completed_at, state, now);
            self.state = state;
        }
        if let Some(metadata) = &patch.metadata {
            self.metadata = metadata.clone();
        }
        patch.title.apply(&mut self.title);
        patch.notes.apply(&mut self.notes);
        patch.due.apply(&mut self.due);
        if let Some(priority) = patch.priority {
            self.priority = priority;
        }
        if let Some(position) = &patch.position {
            self.position = position.clone();
        }
        if let Some(list) = patch.list {
            self.list = list;
        }
        self.updated_by = patch.by.clone();
        self.updated_at = now;
        self.version += 1;
        self
    }

    /// Whether this is the item as a write of `patch` stamped `now` left it: how a write whose
    /// answer was lost is recognised as done.
    pub fn shows(&self, patch: &TodoPatch, now: Timestamp) -> bool {
        self.updated_at == now
            && patch
                .description
                .as_ref()
                .is_none_or(|d| *d == self.description)
            && patch.state.is_none_or(|s| s == self.state)
            && patch.metadata.as_ref().is_none_or(|m| *m == self.metadata)
            && patch.title.shown_in(&self.title)
            && patch.notes.shown_in(&self.notes)
            && patch.due.shown_in(&self.due)
            && patch.priority.is_none_or(|p| p == self.priority)
            && patch.position.as_ref().is_none_or(|p| *p == self.position)
            && patch.list.is_none_or(|l| l == self.list)
            && patch.by == self.updated_by
    }
}

/// When a todo moving from `from` to `to` at `now` was completed: set on entering `completed`,
/// kept while it stays there, cleared on leaving it.
pub fn completed_at(
    from: TodoState,
    was: Option<Timestamp>,
    to: TodoState,
    now: Timestamp,
) -> Option<Timestamp> {
    match (from, to) {
        (TodoState::Completed, TodoState::Completed) => was.or(Some(now)),
        (_, TodoState::Completed) => Some(now),
        _ => None,
    }
}

/// What a change does to an optional field: leaves it, removes it (`null`), or sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone + PartialEq> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    fn apply(&self, field: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Clear => *field = None,
            Self::Set(value) => *field = Some(value.clone()),
        }
    }

    fn shown_in(&self, field: &Option<T>) -> bool {
        match self {
            Self::Keep => true,
            Self::Clear => field.is_none(),
            Self::Set(value) => field.as_ref() == Some(value),
        }
    }

    /// What it makes of the field: `None` when it leaves it, else the new value (`None`:
    /// removed).
    pub fn new_value(&self) -> Option<Option<&T>> {
        match self {
            Self::Keep => None,
            Self::Clear => Some(None),
            Self::Set(value) => Some(Some(value)),
        }
    }
}

/// A change to some fields of a todo; never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodoPatch {
    pub description: Option<Description>,
    pub state: Option<TodoState>,
    pub metadata: Option<Metadata>,
    pub title: Change<Title>,
    pub notes: Change<Notes>,
    pub due: Change<Due>,
    pub priority: Option<Priority>,
    /// Set by a move, not by an update.
    pub position: Option<Position>,
    /// Another list of the owner's to put it in.
    pub list: Option<ListId>,
    /// Who makes the change, when not the owner (a member of the todo's list).
    pub by: Option<Username>,
}

impl TodoPatch {
    /// A move: only the position changes.
    pub fn to_position(position: Position) -> Self {
        Self {
            position: Some(position),
            ..Self::default()
        }
    }

    /// Whether it may change the todo's size (what counts against the account's quota).
    pub fn resizes(&self) -> bool {
        self.description.is_some()
            || self.metadata.is_some()
            || !self.title.is_keep()
            || !self.notes.is_keep()
    }

    /// How many bytes the texts it sets take (what it may add to the account at most).
    pub fn added_bytes(&self) -> u64 {
        (self.description.as_ref().map_or(0, |d| d.as_str().len())
            + self.metadata.as_ref().map_or(0, |m| m.as_json().len())
            + self
                .title
                .new_value()
                .flatten()
                .map_or(0, |t| t.as_str().len())
            + self
                .notes
                .new_value()
                .flatten()
                .map_or(0, |n| n.as_str().len())) as u64
    }

    pub fn new(
        description: Option<Description>,
        state: Option<TodoState>,
        metadata: Option<Metadata>,
    ) -> Result<Self, Invalid> {
        Self {
            description,
            state,
            metadata,
            ..Self::default()
        }
        .checked()
    }

    /// The patch, unless it changes nothing.
    pub fn checked(self) -> Result<Self, Invalid> {
        if self == Self::default() {
            return Err(Invalid(
                "nothing to change: give at least one of description, state, metadata, title, \
                 notes, priority, due, list"
                    .into(),
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(
            Description::parse("  buy milk \n").unwrap().as_str(),
            "buy milk"
        );
        assert!(Description::parse("   ").is_err());
        for control in ["a\u{0}b", "a\u{1b}[2Jb", "a\u{7f}", "two\nlines"] {
            let refused = Description::parse(control).unwrap_err();
            assert!(refused.0.contains("control characters"), "{control:?}");
            assert!(Description::from_stored(control).is_ok(), "{control:?}");
        }
        assert!(Description::parse(&"é".repeat(1000)).is_ok());
        assert!(Description::parse(&"é".repeat(1001)).is_err());
    }

    #[test]
    fn states_parse_only_the_three_names() {
        assert_eq!("started".parse::<TodoState>().unwrap(), TodoState::Started);
        let err = "done".parse::<TodoState>().unwrap_err().0;
        assert!(err.contains("unstarted, started, completed"), "{err}");
        assert!("Completed".parse::<TodoState>().is_err());
    }

    #[test]
    fn metadata_must_be_an_object() {
        assert!(Metadata::parse(json!({"a": [1, {"b": null}]})).is_ok());
        for bad in [json!([]), json!("x"), json!(1), json!(null)] {
            assert!(Metadata::parse(bad).is_err());
        }
    }

    #[test]
    fn metadata_depth_is_bounded() {
        let mut value = json!(1);
        for _ in 0..Metadata::MAX_DEPTH {
            value = json!({ "k": value });
        }
        assert!(Metadata::parse(value.clone()).is_ok());
        assert!(Metadata::parse(json!({ "k": [value] })).is_err());
    }

    #[test]
    fn metadata_size_is_bounded() {
        let fits = "x".repeat(Metadata::MAX_BYTES - 10);
        assert!(Metadata::parse(json!({ "k": fits })).is_ok());
        let too_big = "x".repeat(Metadata::MAX_BYTES);
        assert!(Metadata::parse(json!({ "k": too_big })).is_err());
    }

    #[test]
    fn stored_metadata_is_checked_the_same_way() {
        let value = json!({"a": "x]}{", "b": [1, {"c": "\\\"{"}]});
        let stored = Metadata::parse(value).unwrap();
        assert_eq!(Metadata::from_json(stored.as_json()).unwrap(), stored);
        let mut deep = json!(1);
        for _ in 0..=Metadata::MAX_DEPTH {
            deep = json!({ "k": deep });
        }
        assert!(Metadata::from_json(&deep.to_string()).is_err());
        assert!(Metadata::from_json("[1]").is_err());
        assert!(Metadata::from_json("{\"a\":").is_err());
        assert!(
            Metadata::from_json(&format!(
                "{{\"k\":\"{}\"}}",
                "x".repeat(Metadata::MAX_BYTES)
            ))
            .is_err()
        );
    }

    #[test]
    fn metadata_serializes_as_the_object_it_holds() {
        let metadata = Metadata::parse(json!({"b": 1, "a": [true]})).unwrap();
        assert_eq!(
            serde_json::to_value(&metadata).unwrap(),
            json!({"a": [true], "b": 1})
        );
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(TodoPatch::new(None, None, None).is_err());
        assert!(TodoPatch::new(None, Some(TodoState::Completed), None).is_ok());
    }

    #[test]
    fn patching_bumps_the_version_and_keeps_untouched_fields() {
        let user = Username::parse("alice").unwrap();
        let todo = Todo::new(user, Description::parse("a").unwrap(), Metadata::default());
        let patch = TodoPatch::new(None, Some(TodoState::Completed), None).unwrap();
        let later = Timestamp::now();
        let after = todo.clone().patched(&patch, later);
        assert_eq!(after.version, 2);
        assert_eq!(after.state, TodoState::Completed);
        assert_eq!(after.description, todo.description);
        assert_eq!(after.updated_at, later);
        assert_eq!(after.created_at, todo.created_at);
    }
}
