"""The seed-000 walkthrough (log in, create, list, get, check off, delete) through a client that
openapi-python-client generated from checkoff's own /openapi.json: if the document says anything
the server does not do, the generated client breaks here.

Usage: python walkthrough.py BASE_URL USER PASSWORD (the generated package on PYTHONPATH)."""

import datetime
import sys

from checkoff_client import AuthenticatedClient, Client
from checkoff_client.api.auth import login
from checkoff_client.api.todos import (
    create_todo,
    delete_todo,
    get_todo,
    list_todos,
    move_todo,
    update_todo,
)
from checkoff_client.api.users import update_user
from checkoff_client.models import (
    DueType1,
    ListTodosSort,
    ListTodosView,
    LoginRequest,
    MoveBefore,
    NewTodo,
    Priority,
    ProfileChanges,
    TodoChanges,
    TodoState,
)
from checkoff_client.types import UNSET


def check(condition, what):
    if not condition:
        sys.exit(f"walkthrough: {what}")


def main(base, user, password):
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    answer = login.sync_detailed(
        client=anonymous, body=LoginRequest(username=user, password=password)
    )
    check(answer.status_code == 200, f"login answered {answer.status_code}")
    token = answer.parsed.token
    check(answer.parsed.expires_in > 0, "the token expires")

    api = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
    empty = list_todos.sync(client=api)
    check(empty == [], f"a new user has no todos, got {empty}")

    created = create_todo.sync_detailed(
        client=api, body=NewTodo(description="Buy milk")
    )
    check(created.status_code == 201, f"create answered {created.status_code}")
    todo = created.parsed
    check(todo.state == TodoState.UNSTARTED, "a new todo is unstarted")
    check(created.headers["location"].endswith(f"/todos/{todo.uid}"), "Location names it")
    second = create_todo.sync(client=api, body=NewTodo(description="Walk the dog"))

    listed = list_todos.sync(client=api)
    check([t.description for t in listed] == ["Buy milk", "Walk the dog"], "both listed")

    page = list_todos.sync_detailed(client=api, limit=1)
    check(len(page.parsed) == 1 and "rel=\"next\"" in page.headers.get("link", ""),
          "a page of one links to the next")

    fetched = get_todo.sync(client=api, uid=todo.uid)
    check(fetched.description == "Buy milk", "get returns the todo")

    done = update_todo.sync_detailed(
        client=api,
        uid=todo.uid,
        body=TodoChanges(state=TodoState.COMPLETED),
        if_match=f'"{fetched.version}"',
    )
    check(done.status_code == 200, f"check off answered {done.status_code}")
    check(done.parsed.state == TodoState.COMPLETED, "checked off")
    stale = update_todo.sync_detailed(
        client=api,
        uid=todo.uid,
        body=TodoChanges(description="Buy oat milk"),
        if_match=f'"{fetched.version}"',
    )
    check(stale.status_code == 412, f"a stale If-Match answered {stale.status_code}")

    started = list_todos.sync(client=api, state=TodoState.COMPLETED)
    check([t.uid for t in started] == [todo.uid], "the state filter")

    gone = delete_todo.sync_detailed(client=api, uid=todo.uid)
    check(gone.status_code == 204, f"delete answered {gone.status_code}")
    missing = get_todo.sync_detailed(client=api, uid=todo.uid)
    check(missing.status_code == 404, f"a deleted todo answered {missing.status_code}")
    check([t.uid for t in list_todos.sync(client=api)] == [second.uid], "one left")

    plan(api, user, second)

    refused = AuthenticatedClient(base_url=base, token=token + "x")
    check(list_todos.sync_detailed(client=refused).status_code == 401, "a forged token is refused")
    check(UNSET is not None, "the client's types load")
    print("walkthrough: ok (login, create, list, page, get, check off, stale If-Match, filter, "
          "delete; planning: zone, title, notes, priority, due, views, move, search)")


def plan(api, user, first):
    """The planning fields through the generated client: a profile's zone, a timed due in
    another zone answered with its instant, a day, the upcoming view by due, a move to the top of
    the person's order, and a search that ignores accents."""
    profile = update_user.sync(user, client=api, body=ProfileChanges(tz="Pacific/Kiritimati"))
    check(profile.tz == "Pacific/Kiritimati", f"the profile keeps its zone, got {profile.tz}")
    goose = create_todo.sync(client=api, body=NewTodo(
        description="Order the Christmas goose",
        title="Goose",
        notes="from the farm\nask for a big one",
        priority=Priority.HIGH,
        due=DueType1(at="2030-12-24T18:00", tz="Europe/Berlin"),
    ))
    utc = datetime.datetime(2030, 12, 24, 17, 0, tzinfo=datetime.timezone.utc)
    check(isinstance(goose.due, DueType1) and goose.due.utc == utc,
          f"a timed due is answered with its instant, got {goose.due}")
    check(goose.priority == Priority.HIGH and goose.notes.endswith("big one"), "priority, notes")
    cafe = create_todo.sync(client=api, body=NewTodo(
        description="Café au lait", due=datetime.date(2030, 12, 23)))
    check(cafe.due == datetime.date(2030, 12, 23), f"a day stays a day, got {cafe.due}")

    upcoming = list_todos.sync(client=api, view=ListTodosView.UPCOMING, sort=ListTodosSort.DUE)
    check([t.uid for t in upcoming] == [cafe.uid, goose.uid], "upcoming, soonest first")
    moved = move_todo.sync(goose.uid, client=api, body=MoveBefore(before=first.uid))
    check(moved.position < first.position, "the moved todo's key sorts before its anchor's")
    order = list_todos.sync(client=api, sort=ListTodosSort.POSITION)
    check([t.uid for t in order] == [goose.uid, first.uid, cafe.uid], "the person's order")
    found = list_todos.sync(client=api, q="cafe")
    check([t.uid for t in found] == [cafe.uid], "a search ignores accents")


if __name__ == "__main__":
    main(*sys.argv[1:4])
