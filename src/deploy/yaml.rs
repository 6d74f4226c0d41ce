//! A YAML writer for templates: block style for maps and lists, every string double-quoted
//! with JSON's escapes. Quoting every string keeps values such as `2012-10-17`, `yes` or `on`
//! strings for every YAML reader (YAML 1.1 ones read them as dates and booleans), and a JSON
//! string is a valid YAML double-quoted scalar.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => write_list(items, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// A key is written bare when it is plainly a name (`Type`, `Fn::Sub`), quoted otherwise.
fn key(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '/' | '.'))
        && !text.ends_with(':');
    if plain {
        text.to_owned()
    } else {
        Value::String(text.to_owned()).to_string()
    }
}

/// A scalar or an empty collection, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (i, (name, value)) in map.iter().enumerate() {
        // The first key of a map inside a list shares the line of its `- `.
        if i > 0 || !out.ends_with("- ") {
            pad(indent, out);
        }
        out.push_str(&key(name));
        out.push(':');
        write_value(value, indent, out);
    }
}

fn write_list(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        pad(indent, out);
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(map, indent + 2, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(inner, indent + 2, out);
            }
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:`: the value on the same line, or a nested block below it.
fn write_value(value: &Value, indent: usize, out: &mut String) {
    if !is_block(value) {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
        return;
    }
    out.push('\n');
    match value {
        Value::Object(map) => write_map(map, indent + 2, out),
        Value::Array(items) => write_list(items, indent + 2, out),
        _ => unreachable!("only collections are blocks"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_and_lists_nest_in_block_style_with_every_string_quoted() {
        let value = json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": ["a", "b"] }, "x"],
            "Fn::Sub": "${A}",
            "application/json": "{\"message\":\"no\"}",
            "Empty": {},
            "N": 3,
            "On": true,
            "odd key": null,
        });
        assert_eq!(
            to_yaml(&value),
            "Empty: {}\nFn::Sub: \"${A}\"\nN: 3\nOn: true\nStatement:\n  - Action:\n      - \"a\"\n      - \"b\"\n    Effect: \"Allow\"\n  - \"x\"\nVersion: \"2012-10-17\"\napplication/json: \"{\\\"message\\\":\\\"no\\\"}\"\n\"odd key\": null\n"
        );
    }
}
