//! What the conformance fixture offers: the tool, resource, template and prompt listings, and
//! the static answers for resources and prompts, written as the JSON the suite
//! (`@modelcontextprotocol/conformance` 0.1.16, `server --suite active`) documents for each
//! scenario. JSON literals keep the fixture a line-by-line match of the suite's text, so a
//! mismatch is easy to spot when the suite changes.

use rmcp::ErrorData;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A 1x1 red PNG.
pub const PNG_1PX: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A RIFF/WAVE header with no samples: the smallest valid `audio/wav`.
pub const WAV_EMPTY: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

/// Turns one of the JSON literals below into an rmcp model type. A failure is a bug in this
/// file, reported to the client as an internal error rather than a panic.
pub fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value)
        .map_err(|error| ErrorData::internal_error(format!("fixture JSON: {error}"), None))
}

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}})
}

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description, "inputSchema": no_arguments()})
}

pub fn tools() -> Value {
    json!({"tools": [
        tool("test_simple_text", "Returns a simple text response."),
        tool("test_image_content", "Returns a 1x1 PNG image."),
        tool("test_audio_content", "Returns a minimal WAV audio clip."),
        tool("test_embedded_resource", "Returns an embedded text resource."),
        tool("test_multiple_content_types", "Returns text, image and resource content."),
        tool("test_tool_with_logging", "Sends three info log notifications while running."),
        tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100."),
        tool("test_error_handling", "Always fails with isError: true."),
        {
            "name": "test_sampling",
            "description": "Asks the client's LLM (sampling/createMessage) and returns its answer.",
            "inputSchema": {"type": "object", "properties": {
                "prompt": {"type": "string", "description": "The prompt to send to the LLM"}
            }, "required": ["prompt"]}
        },
        {
            "name": "test_elicitation",
            "description": "Asks the user for a username and email (elicitation/create).",
            "inputSchema": {"type": "object", "properties": {
                "message": {"type": "string", "description": "The message to show the user"}
            }, "required": ["message"]}
        },
        tool("test_elicitation_sep1034_defaults", "Elicitation whose fields all carry defaults (SEP-1034)."),
        tool("test_elicitation_sep1330_enums", "Elicitation with all five enum forms (SEP-1330)."),
        {
            "name": "json_schema_2020_12_tool",
            "description": "Tool with JSON Schema 2020-12 features",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"type": "object", "properties": {
                    "street": {"type": "string"}, "city": {"type": "string"}
                }}},
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false
            }
        }
    ]})
}

pub fn resources() -> Value {
    json!({"resources": [
        {"uri": "test://static-text", "name": "static-text", "description": "A static text resource",
         "mimeType": "text/plain"},
        {"uri": "test://static-binary", "name": "static-binary", "description": "A static PNG image",
         "mimeType": "image/png"},
        {"uri": "test://watched-resource", "name": "watched-resource",
         "description": "A resource clients may subscribe to", "mimeType": "text/plain"}
    ]})
}

pub fn resource_templates() -> Value {
    json!({"resourceTemplates": [
        {"uriTemplate": "test://template/{id}/data", "name": "template-data",
         "description": "Data for one id", "mimeType": "application/json"}
    ]})
}

/// The `resources/read` answer for `uri`, or `None` when no such resource exists.
pub fn read_resource(uri: &str) -> Option<Value> {
    let content = match uri {
        "test://static-text" => json!({"uri": uri, "mimeType": "text/plain",
            "text": "This is the content of the static text resource."}),
        "test://static-binary" => json!({"uri": uri, "mimeType": "image/png", "blob": PNG_1PX}),
        "test://watched-resource" => json!({"uri": uri, "mimeType": "text/plain",
            "text": "Watched resource content."}),
        _ => {
            let id = uri
                .strip_prefix("test://template/")?
                .strip_suffix("/data")
                .filter(|id| !id.is_empty() && !id.contains('/'))?;
            let text =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            json!({"uri": uri, "mimeType": "application/json", "text": text.to_string()})
        }
    };
    Some(json!({"contents": [content]}))
}

pub fn prompts() -> Value {
    let argument = |name: &str, description: &str| json!({"name": name, "description": description, "required": true});
    json!({"prompts": [
        {"name": "test_simple_prompt", "description": "A prompt without arguments"},
        {"name": "test_prompt_with_arguments", "description": "A prompt with two arguments",
         "arguments": [argument("arg1", "First test argument"), argument("arg2", "Second test argument")]},
        {"name": "test_prompt_with_embedded_resource", "description": "A prompt embedding a resource",
         "arguments": [argument("resourceUri", "URI of the resource to embed")]},
        {"name": "test_prompt_with_image", "description": "A prompt with an image"}
    ]})
}

/// The `prompts/get` answer, `Ok(None)` for an unknown prompt, or an error naming a missing
/// argument.
pub fn get_prompt(
    name: &str,
    arguments: &serde_json::Map<String, Value>,
) -> Result<Option<Value>, ErrorData> {
    let argument = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorData::invalid_params(format!("argument `{key}` is required"), None))
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    let messages = match name {
        "test_simple_prompt" => vec![user(json!({"type": "text",
            "text": "This is a simple prompt for testing."}))],
        "test_prompt_with_arguments" => {
            let text = format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                argument("arg1")?,
                argument("arg2")?
            );
            vec![user(json!({"type": "text", "text": text}))]
        }
        "test_prompt_with_embedded_resource" => vec![
            user(
                json!({"type": "resource", "resource": {"uri": argument("resourceUri")?,
                "mimeType": "text/plain", "text": "Embedded resource content for testing."}}),
            ),
            user(json!({"type": "text", "text": "Please process the embedded resource above."})),
        ],
        "test_prompt_with_image" => vec![
            user(json!({"type": "image", "data": PNG_1PX, "mimeType": "image/png"})),
            user(json!({"type": "text", "text": "Please analyze the image above."})),
        ],
        _ => return Ok(None),
    };
    Ok(Some(json!({"messages": messages})))
}

/// Completion candidates for a prompt argument or template variable, filtered by prefix.
pub fn complete(argument: &str, prefix: &str) -> Value {
    let candidates: &[&str] = match argument {
        "arg1" | "arg2" => &["paris", "park", "party", "test-value"],
        "id" => &["1", "123", "42"],
        _ => &[],
    };
    let values: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|candidate| candidate.starts_with(prefix))
        .collect();
    json!({"completion": {"values": values, "total": values.len(), "hasMore": false}})
}
