//! Tool calls: which function the mock "calls", and the arguments it invents for it.
//!
//! Arguments are built from the function's `parameters` JSON schema, deterministically:
//! every declared property gets a placeholder of its type (string → "mock", number and
//! integer → 1, boolean → true, array → [], object → its own properties filled the same
//! way), `enum` gives its first value and `const` its value. Keys are sorted and the JSON
//! is written with ", " and ": " separators, so the string has words for the token rule
//! and streams in several pieces.

use serde_json::{Map, Value};

use crate::errors::ApiError;

/// The function the assistant calls.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as the JSON string OpenAI sends.
    pub arguments: String,
}

/// Deepest schema nesting followed; deeper (or cyclic `$ref`) parts become `null`.
const MAX_DEPTH: u32 = 16;

/// Decides whether the request gets a tool call, from `tools` and `tool_choice`.
/// `Ok(None)` means the assistant answers with text.
pub fn select(
    tools: Option<&Value>,
    tool_choice: Option<&Value>,
) -> Result<Option<ToolCall>, ApiError> {
    let tools = match tools {
        None | Some(Value::Null) => {
            if matches!(tool_choice, None | Some(Value::Null)) {
                return Ok(None);
            }
            return Err(ApiError::invalid_value(
                "tool_choice",
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are \
                 specified.",
            ));
        }
        Some(Value::Array(tools)) if tools.is_empty() => {
            return Err(ApiError::empty_array("tools"));
        }
        Some(Value::Array(tools)) => tools,
        Some(other) => return Err(ApiError::invalid_type("tools", "an array", other)),
    };

    // (name, parameters) of each function tool; other tool types are accepted and skipped.
    let mut functions = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(tool) = tool.as_object() else {
            return Err(ApiError::invalid_type(
                &format!("tools[{i}]"),
                "an object",
                tool,
            ));
        };
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            continue;
        }
        let function = tool.get("function").and_then(Value::as_object);
        let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) else {
            return Err(ApiError::missing(&format!("tools[{i}].function.name")));
        };
        let parameters = function.and_then(|f| f.get("parameters"));
        functions.push((name, parameters));
    }

    let wanted = match tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) => match mode.as_str() {
            "none" => return Ok(None),
            "auto" | "required" => None,
            other => {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'none', 'auto', and \
                         'required'."
                    ),
                ));
            }
        },
        Some(Value::Object(choice)) => choice
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str),
        Some(other) => {
            return Err(ApiError::invalid_type(
                "tool_choice",
                "a string or an object",
                other,
            ));
        }
    };

    let chosen = match wanted {
        Some(name) => match functions.iter().find(|(n, _)| *n == name) {
            Some(found) => found,
            None => {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    format!(
                        "Invalid value for 'tool_choice': function '{name}' not found in 'tools'."
                    ),
                ));
            }
        },
        None => match functions.first() {
            Some(first) => first,
            // Only non-function tools: nothing the mock knows how to call.
            None => return Ok(None),
        },
    };

    let (name, parameters) = *chosen;
    let arguments = match parameters {
        Some(schema) => example(schema, schema, 0),
        None => Value::Object(Map::new()),
    };
    // A schema whose root is not an object still yields an object, as OpenAI's do.
    let arguments = if arguments.is_object() {
        arguments
    } else {
        Value::Object(Map::new())
    };
    Ok(Some(ToolCall {
        name: name.to_owned(),
        arguments: spaced_json(&arguments),
    }))
}

/// A placeholder value satisfying `schema` (see the module docs).
fn example(root: &Value, schema: &Value, depth: u32) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
        // Local references only (`#/$defs/Name`), as generated by pydantic and zod.
        return match target
            .strip_prefix('#')
            .map(|pointer| root.pointer(pointer))
        {
            Some(Some(resolved)) => example(root, resolved, depth + 1),
            _ => Value::Null,
        };
    }
    if let Some(value) = obj.get("const") {
        return value.clone();
    }
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let kind = match obj.get("type") {
        Some(Value::String(kind)) => Some(kind.as_str()),
        // ["string", "null"]: the first non-null type.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .or(Some("null")),
        _ => None,
    };
    match kind {
        Some("string") => Value::String("mock".to_owned()),
        Some("number") | Some("integer") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => object_example(root, obj, depth),
        Some(_) => Value::Null,
        None => {
            for key in ["anyOf", "oneOf", "allOf"] {
                if let Some(first) = obj
                    .get(key)
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                {
                    return example(root, first, depth + 1);
                }
            }
            if obj.contains_key("properties") {
                object_example(root, obj, depth)
            } else {
                Value::Null
            }
        }
    }
}

fn object_example(root: &Value, schema: &Map<String, Value>, depth: u32) -> Value {
    let mut out = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, sub) in properties {
            out.insert(key.clone(), example(root, sub, depth + 1));
        }
    }
    // Required names without a declared schema still have to be there.
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            out.entry(key.to_owned())
                .or_insert_with(|| Value::String("mock".to_owned()));
        }
    }
    Value::Object(out)
}

/// JSON with sorted keys and ", " / ": " separators (like Python's `json.dumps`), the same
/// bytes whatever serde_json's map ordering is.
pub fn spaced_json(value: &Value) -> String {
    let mut out = String::new();
    write_spaced(value, &mut out);
    out
}

fn write_spaced(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_spaced(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                if let Some(item) = map.get(key) {
                    write_spaced(item, out);
                }
            }
            out.push('}');
        }
        // Scalars have one JSON spelling.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weather_tools() -> Value {
        json!([
            {"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer"},
                    "exact": {"type": ["boolean", "null"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "where": {"type": "object", "properties": {"lat": {"type": "number"}}}
                },
                "required": ["location", "extra"]
            }}},
            {"type": "function", "function": {"name": "noop"}}
        ])
    }

    #[test]
    fn first_tool_by_default() {
        let call = select(Some(&weather_tools()), None).ok().flatten();
        let call = call.expect("a tool call");
        assert_eq!(call.name, "get_weather");
        assert_eq!(
            call.arguments,
            r#"{"days": 1, "exact": true, "extra": "mock", "location": "mock", "tags": [], "unit": "celsius", "where": {"lat": 1}}"#
        );
        let parsed: Value = serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
        assert_eq!(parsed["unit"], "celsius");
    }

    #[test]
    fn tool_choice_picks_or_refuses() {
        let tools = weather_tools();
        let choice = json!({"type": "function", "function": {"name": "noop"}});
        let call = select(Some(&tools), Some(&choice)).ok().flatten();
        assert_eq!(
            call,
            Some(ToolCall {
                name: "noop".into(),
                arguments: "{}".into()
            })
        );
        assert_eq!(select(Some(&tools), Some(&json!("none"))), Ok(None));
        assert!(select(Some(&tools), Some(&json!("sometimes"))).is_err());
        let missing = json!({"type": "function", "function": {"name": "nope"}});
        assert!(select(Some(&tools), Some(&missing)).is_err());
        assert!(select(None, Some(&json!("auto"))).is_err());
        assert!(select(Some(&json!([])), None).is_err());
        assert!(select(Some(&json!("x")), None).is_err());
        assert!(select(Some(&json!([{"type": "function"}])), None).is_err());
        assert_eq!(
            select(Some(&json!([{"type": "custom", "custom": {}}])), None),
            Ok(None)
        );
    }

    #[test]
    fn refs_and_cycles() {
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "#/nowhere"}},
            "$defs": {"A": {"type": "object", "properties": {"self": {"$ref": "#/$defs/A"}}}}
        }}}]);
        let call = select(Some(&tools), None).ok().flatten().expect("a call");
        let parsed: Value = serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
        assert!(parsed["a"]["self"].is_object());
        assert!(parsed["b"].is_null());
    }

    #[test]
    fn spaced_json_escapes() {
        let v = json!({"b": [1, "x\"y"], "a": null});
        assert_eq!(spaced_json(&v), r#"{"a": null, "b": [1, "x\"y"]}"#);
    }
}
