//! Which of an owner's todos a list shows, and in which order: the state, the views (today,
//! overdue, upcoming, no date) worked out in the caller's time zone, due-date bounds and the
//! sort. Both stores answer a [`TodoQuery`]; [`TodoQuery::admits`] and [`TodoQuery::key`] say
//! what they must answer (DynamoDB applies them as written, SQLite in SQL, and the contract
//! tests hold both to the same answers).

use std::str::FromStr;
use std::sync::Arc;

use jiff::civil::Date;
use utoipa::ToSchema;

use super::plan::{Due, Zone, parse_day, write_day, write_instant};
use super::search::Search;
use super::{Invalid, ListId, Todo, TodoState};

/// The order of a list. Every order ends with the uid, so pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Sort {
    /// Oldest first.
    #[default]
    Created,
    /// The person's own order (`position`).
    Position,
    /// Soonest due first; all-day dues before the times of their (UTC) day; todos without a
    /// due date last.
    Due,
    /// High, medium, low, none.
    Priority,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Self::Created, Self::Position, Self::Due, Self::Priority];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Position => "position",
            Self::Due => "due",
            Self::Priority => "priority",
        }
    }
}

impl super::Named for Sort {
    const WHAT: &'static str = "sort";
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl FromStr for Sort {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        super::by_name(raw)
    }
}

/// The lists people plan from, evaluated in their time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum View {
    /// Due today.
    Today,
    /// Not completed, and due before today (an all-day due) or before now (a time).
    Overdue,
    /// Due after today.
    Upcoming,
    /// Without a due date.
    NoDate,
}

impl View {
    pub const ALL: [View; 4] = [Self::Today, Self::Overdue, Self::Upcoming, Self::NoDate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Overdue => "overdue",
            Self::Upcoming => "upcoming",
            Self::NoDate => "no-date",
        }
    }
}

impl super::Named for View {
    const WHAT: &'static str = "view";
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl FromStr for View {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        super::by_name(raw)
    }
}

/// Dues from one point to another (the start included, the end not), as text the stores
/// compare: all-day dues by day (`2026-12-24`), dues at a time by UTC instant
/// (`2026-12-24T17:00:00Z`). An open end is `""` below or `"~"` above everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DueRange {
    pub days: (String, String),
    pub instants: (String, String),
}

/// Above every day and instant as text.
pub const OPEN_END: &str = "~";

impl DueRange {
    /// The narrower of two ranges.
    fn and(self, other: Self) -> Self {
        let max = |a: String, b: String| a.max(b);
        let min = |a: String, b: String| a.min(b);
        Self {
            days: (
                max(self.days.0, other.days.0),
                min(self.days.1, other.days.1),
            ),
            instants: (
                max(self.instants.0, other.instants.0),
                min(self.instants.1, other.instants.1),
            ),
        }
    }

    fn holds(&self, due: &Due) -> bool {
        let (range, key) = match due {
            Due::Day(_) => (&self.days, due.sort_key()),
            Due::At { .. } => (&self.instants, due.sort_key()),
        };
        range.0 <= key && key < range.1
    }
}

/// What a list asks of the due dates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum DueFilter {
    #[default]
    Any,
    /// Only todos without a due date.
    Without,
    /// Only todos due within the range (shared: a view's range is worked out once a day, and
    /// every kept page's key holds one).
    Within(Arc<DueRange>),
}

/// Which of an owner's todos a list shows, and in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TodoQuery {
    pub state: Option<TodoState>,
    /// Completed todos are left out (the overdue view).
    pub open: bool,
    pub due: DueFilter,
    /// Only todos with these words (`q`).
    pub search: Option<Search>,
    pub sort: Sort,
    /// Only the todos of this list (`list`).
    pub list: Option<ListId>,
}

/// A bound of `due_before` / `due_after`: a day (its start in the caller's zone) or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueBound {
    Day(Date),
    Instant(jiff::Timestamp),
}

impl DueBound {
    /// `2026-12-24`, or an RFC 3339 instant with its offset (`2026-12-24T18:00:00+01:00`).
    pub fn parse(what: &str, raw: &str) -> Result<Self, Invalid> {
        if raw.len() == 10 {
            return parse_day(raw).map(Self::Day);
        }
        raw.parse::<jiff::Timestamp>()
            .map(Self::Instant)
            .map_err(|_| {
                Invalid(format!(
                    "{what} must be a date (2026-12-24) or an instant with its offset \
                 (2026-12-24T18:00:00Z)"
                ))
            })
    }

    /// Dues before this bound: days before its day (and its day too, when it is an instant
    /// after that day began), instants before it.
    fn before(self, zone: &Zone) -> Result<DueRange, Invalid> {
        let (day, instant) = self.split(zone)?;
        Ok(DueRange {
            days: (String::new(), day),
            instants: (String::new(), instant),
        })
    }

    /// Dues from this bound on.
    fn after(self, zone: &Zone) -> Result<DueRange, Invalid> {
        let (day, instant) = self.split(zone)?;
        Ok(DueRange {
            days: (day, OPEN_END.into()),
            instants: (instant, OPEN_END.into()),
        })
    }

    /// The first day whose all-day dues are not before this bound, and the bound as an instant.
    fn split(self, zone: &Zone) -> Result<(String, String), Invalid> {
        Ok(match self {
            Self::Day(day) => (write_day(day), write_instant(zone.start_of(day)?)),
            Self::Instant(at) => {
                let day = zone.day_at(at);
                // A day that began before the instant counts as before it.
                let first = if zone.start_of(day)? < at {
                    day.tomorrow().map_err(|e| Invalid(e.to_string()))?
                } else {
                    day
                };
                (write_day(first), write_instant(at))
            }
        })
    }
}

/// What a client asked a list for, before it is worked out against the clock and a zone.
#[derive(Debug, Clone, Default)]
pub struct ListAsk {
    pub state: Option<TodoState>,
    pub view: Option<View>,
    pub due_before: Option<DueBound>,
    pub due_after: Option<DueBound>,
    pub search: Option<Search>,
    pub sort: Sort,
    pub list: Option<ListId>,
}

impl ListAsk {
    /// Whether the query has days to work out in a zone (a view with dates, a date bound).
    pub fn needs_zone(&self) -> bool {
        self.view.is_some_and(|v| v != View::NoDate)
            || self.due_before.is_some()
            || self.due_after.is_some()
    }

    /// The query this asks for at `now` in `zone`.
    pub fn query(&self, zone: &Zone, now: jiff::Timestamp) -> Result<TodoQuery, Invalid> {
        // A plain list (the most frequent request) asks for no day: none is worked out.
        let mut range = match self.view {
            None | Some(View::NoDate) => None,
            Some(View::Today) => Some(Day::at(zone, now, |day| Arc::clone(&day.today))?),
            Some(View::Upcoming) => Some(Day::at(zone, now, |day| Arc::clone(&day.upcoming))?),
            Some(View::Overdue) => Some(Arc::new(DueRange {
                days: (
                    String::new(),
                    Day::at(zone, now, |day| day.today.days.0.clone())?,
                ),
                instants: (String::new(), write_instant(now)),
            })),
        };
        if let Some(bound) = self.due_before {
            range = narrowed(range, bound.before(zone)?);
        }
        if let Some(bound) = self.due_after {
            range = narrowed(range, bound.after(zone)?);
        }
        let due = match (self.view == Some(View::NoDate), range) {
            (true, None) => DueFilter::Without,
            // No todo is both without a due date and due within bounds.
            (true, Some(_)) => DueFilter::Within(Arc::new(DueRange {
                days: (OPEN_END.into(), OPEN_END.into()),
                instants: (OPEN_END.into(), OPEN_END.into()),
            })),
            (false, None) => DueFilter::Any,
            (false, Some(range)) => DueFilter::Within(range),
        };
        Ok(TodoQuery {
            state: self.state,
            open: self.view == Some(View::Overdue),
            due,
            search: self.search.clone(),
            sort: self.sort,
            list: self.list,
        })
    }
}

/// The day it is in a zone and the days after it, as the views compare them: dates and the
/// instants they begin (not always midnight). Worked out once per zone and day on each thread
/// and kept while it is that day there: a person asks for the same views again and again, and
/// each working out takes three conversions between the zone's clock and UTC.
struct Day {
    zone: Zone,
    /// Dues today.
    today: Arc<DueRange>,
    /// Dues after today.
    upcoming: Arc<DueRange>,
    from: jiff::Timestamp,
    until: jiff::Timestamp,
}

thread_local! {
    static LAST_DAY: std::cell::RefCell<Option<Day>> = const { std::cell::RefCell::new(None) };
}

impl Day {
    /// What `read` takes of the day it is at `now` in `zone`.
    fn at<T>(zone: &Zone, now: jiff::Timestamp, read: impl Fn(&Day) -> T) -> Result<T, Invalid> {
        let kept = LAST_DAY.with_borrow(|last| {
            last.as_ref()
                .filter(|d| d.zone == *zone && d.from <= now && now < d.until)
                .map(&read)
        });
        if let Some(kept) = kept {
            return Ok(kept);
        }
        let today = zone.day_at(now);
        let tomorrow = today.tomorrow().map_err(|e| Invalid(e.to_string()))?;
        let (from, until) = (zone.start_of(today)?, zone.start_of(tomorrow)?);
        let (next_date, next_starts) = (write_day(tomorrow), write_instant(until));
        let day = Self {
            zone: zone.clone(),
            today: Arc::new(DueRange {
                days: (write_day(today), next_date.clone()),
                instants: (write_instant(from), next_starts.clone()),
            }),
            upcoming: Arc::new(DueRange {
                days: (next_date, OPEN_END.into()),
                instants: (next_starts, OPEN_END.into()),
            }),
            from,
            until,
        };
        let taken = read(&day);
        LAST_DAY.with_borrow_mut(|last| *last = Some(day));
        Ok(taken)
    }
}

/// `range` narrowed by `by` (`by` alone when there was none).
fn narrowed(range: Option<Arc<DueRange>>, by: DueRange) -> Option<Arc<DueRange>> {
    Some(Arc::new(match range {
        Some(range) => Arc::unwrap_or_clone(range).and(by),
        None => by,
    }))
}

impl TodoQuery {
    /// Every todo, oldest first (what old clients list).
    pub fn all() -> Self {
        Self::default()
    }

    pub fn in_state(state: Option<TodoState>) -> Self {
        Self {
            state,
            ..Self::default()
        }
    }

    /// Whether the list shows `todo`.
    pub fn admits(&self, todo: &Todo) -> bool {
        self.state.is_none_or(|s| s == todo.state)
            && !(self.open && todo.state == TodoState::Completed)
            && match &self.due {
                DueFilter::Any => true,
                DueFilter::Without => todo.due.is_none(),
                DueFilter::Within(range) => todo.due.as_ref().is_some_and(|d| range.holds(d)),
            }
            && self.search.as_ref().is_none_or(|s| s.matches(todo))
            && self.list.is_none_or(|l| l == todo.list)
    }

    /// Where `todo` sorts in the list, as text (then by uid).
    pub fn key(&self, todo: &Todo) -> String {
        match self.sort {
            Sort::Created => String::new(),
            Sort::Position => todo.position.as_str().to_owned(),
            Sort::Due => todo
                .due
                .as_ref()
                .map_or_else(|| OPEN_END.to_owned(), Due::sort_key),
            Sort::Priority => (3 - todo.priority.rank()).to_string(),
        }
    }

    /// The position a cursor records after `todo`: its key and uid (the uid alone in creation
    /// order, as cursors of earlier versions were).
    pub fn position_of(&self, todo: &Todo) -> String {
        match self.sort {
            Sort::Created => todo.uid.to_string(),
            _ => format!("{}#{}", self.key(todo), todo.uid),
        }
    }

    /// A position back into its key and uid.
    pub fn split_position<'p>(&self, position: &'p str) -> Option<(&'p str, &'p str)> {
        match self.sort {
            Sort::Created => Some(("", position)),
            _ => position.rsplit_once('#'),
        }
    }

    /// Whether the list is the plain one every store reads straight from its key order.
    pub fn is_plain(&self) -> bool {
        self.sort == Sort::Created
            && !self.open
            && self.due == DueFilter::Any
            && self.search.is_none()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{Description, Metadata, Plan, Username};

    fn todo_due(due: Option<serde_json::Value>) -> Todo {
        let plan = Plan {
            due: due.map(|d| Due::parse(&d).unwrap()),
            ..Plan::default()
        };
        Todo::planned(
            Username::parse("alice").unwrap(),
            Description::parse("x").unwrap(),
            Metadata::default(),
            plan,
        )
    }

    fn view(view: View, zone: &str, now: &str) -> TodoQuery {
        let ask = ListAsk {
            view: Some(view),
            ..ListAsk::default()
        };
        ask.query(&Zone::parse(zone).unwrap(), now.parse().unwrap())
            .unwrap()
    }

    #[test]
    fn today_is_the_callers_day() {
        // 23:30 UTC on the 23rd is already the 24th in Berlin.
        let now = "2026-12-23T23:30:00Z";
        let christmas_eve = todo_due(Some(json!("2026-12-24")));
        let tonight_berlin = todo_due(Some(
            json!({"at": "2026-12-24T20:00", "tz": "Europe/Berlin"}),
        ));
        let berlin = view(View::Today, "Europe/Berlin", now);
        assert!(berlin.admits(&christmas_eve));
        assert!(berlin.admits(&tonight_berlin));
        let new_york = view(View::Today, "America/New_York", now);
        assert!(!new_york.admits(&christmas_eve));
        assert!(
            !new_york.admits(&tonight_berlin),
            "20:00 Berlin is 14:00 on the 24th there"
        );
        assert!(view(View::Upcoming, "America/New_York", now).admits(&christmas_eve));
        assert!(!view(View::Overdue, "Europe/Berlin", now).admits(&christmas_eve));
        assert!(view(View::NoDate, "UTC", now).admits(&todo_due(None)));
        assert!(!view(View::NoDate, "UTC", now).admits(&christmas_eve));
    }

    #[test]
    fn overdue_counts_times_to_the_minute_and_days_to_the_day() {
        let now = "2026-12-24T12:00:00Z";
        let this_morning = todo_due(Some(json!({"at": "2026-12-24T09:00", "tz": "UTC"})));
        let today = todo_due(Some(json!("2026-12-24")));
        let yesterday = todo_due(Some(json!("2026-12-23")));
        let overdue = view(View::Overdue, "UTC", now);
        assert!(overdue.admits(&this_morning));
        assert!(!overdue.admits(&today));
        assert!(overdue.admits(&yesterday));
        let mut done = yesterday.clone();
        done.state = TodoState::Completed;
        assert!(!overdue.admits(&done));
    }

    #[test]
    fn due_bounds_take_the_start_of_a_day_in_the_zone() {
        let zone = Zone::parse("Europe/Berlin").unwrap();
        let now = "2026-12-01T00:00:00Z".parse().unwrap();
        let ask = |before: &str, after: &str| ListAsk {
            due_before: Some(DueBound::parse("due_before", before).unwrap()),
            due_after: Some(DueBound::parse("due_after", after).unwrap()),
            ..ListAsk::default()
        };
        let week = ask("2026-12-31", "2026-12-24").query(&zone, now).unwrap();
        assert!(week.admits(&todo_due(Some(json!("2026-12-24")))));
        assert!(!week.admits(&todo_due(Some(json!("2026-12-31")))));
        // 00:30 in Berlin on the 24th is 23:30 UTC on the 23rd: inside.
        let early = json!({"at": "2026-12-24T00:30", "tz": "Europe/Berlin"});
        assert!(week.admits(&todo_due(Some(early))));
        assert!(!week.admits(&todo_due(None)));
        // An instant bound: the day it falls in is before it once that day has begun.
        let noon = ask("2026-12-24T12:00:00+01:00", "2026-12-20")
            .query(&zone, now)
            .unwrap();
        assert!(noon.admits(&todo_due(Some(json!("2026-12-24")))));
        assert!(!noon.admits(&todo_due(Some(json!("2026-12-25")))));
        assert!(DueBound::parse("due_before", "tomorrow").is_err());
    }

    #[test]
    fn no_date_within_bounds_is_nothing() {
        let ask = ListAsk {
            view: Some(View::NoDate),
            due_before: Some(DueBound::parse("due_before", "2026-12-24").unwrap()),
            ..ListAsk::default()
        };
        let query = ask.query(&Zone::utc(), jiff::Timestamp::now()).unwrap();
        assert!(!query.admits(&todo_due(None)));
        assert!(!query.admits(&todo_due(Some(json!("2026-12-01")))));
    }

    #[test]
    fn positions_name_the_key_and_the_uid() {
        let query = TodoQuery {
            sort: Sort::Due,
            ..TodoQuery::default()
        };
        let todo = todo_due(Some(json!("2026-12-24")));
        let position = query.position_of(&todo);
        assert_eq!(
            query.split_position(&position),
            Some(("2026-12-24", todo.uid.to_string().as_str()))
        );
        assert_eq!(TodoQuery::all().position_of(&todo), todo.uid.to_string());
    }
}
