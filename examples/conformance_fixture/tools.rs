//! The conformance fixture's tool calls. Most return fixed content; the rest exercise the
//! server→client side of MCP within one call — log and progress notifications, sampling and
//! elicitation requests — which is what the gateway must carry back to its client.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, CreateMessageRequestParams, ElicitRequestParams,
    LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use crate::catalog::{PNG_1PX, WAV_EMPTY, typed};

/// Pause between two notifications of one call, as the suite's text asks ("~50ms"), so a
/// client sees them arrive one by one while the call is still open.
const STEP: Duration = Duration::from_millis(50);

/// The answer to `tools/call`; `min_log_level` is the session's `logging/setLevel` value.
pub async fn call(
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
    min_log_level: LoggingLevel,
) -> Result<CallToolResult, ErrorData> {
    let args = request.arguments.clone().unwrap_or_default();
    let text_arg = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ErrorData::invalid_params(format!("`{key}` must be a string"), None))
    };
    match request.name.as_ref() {
        "test_simple_text" => content(json!([{"type": "text",
            "text": "This is a simple text response for testing."}])),
        "test_image_content" => {
            content(json!([{"type": "image", "data": PNG_1PX, "mimeType": "image/png"}]))
        }
        "test_audio_content" => {
            content(json!([{"type": "audio", "data": WAV_EMPTY, "mimeType": "audio/wav"}]))
        }
        "test_embedded_resource" => content(json!([{"type": "resource", "resource": {
            "uri": "test://embedded-resource", "mimeType": "text/plain",
            "text": "This is an embedded resource content."}}])),
        "test_multiple_content_types" => content(json!([
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG_1PX, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://mixed-content-resource",
                "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}
        ])),
        "test_error_handling" => typed(json!({"isError": true, "content": [{"type": "text",
            "text": "This tool intentionally returns an error for testing"}]})),
        "test_tool_with_logging" => with_logging(&context, min_log_level).await,
        "test_tool_with_progress" => with_progress(&context).await,
        "test_sampling" => sampling(&context, &text_arg("prompt")?).await,
        "test_elicitation" => {
            let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}
            }, "required": ["username", "email"]});
            elicit(&context, &text_arg("message")?, schema, "User response").await
        }
        "test_elicitation_sep1034_defaults" => {
            let schema = json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status",
                    "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verification status", "default": true}
            }, "required": []});
            let message = "Please review your information (defaults provided)";
            elicit(&context, message, schema, "Elicitation completed").await
        }
        "test_elicitation_sep1330_enums" => {
            let schema = json!({"type": "object", "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}]},
                "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"}]}}
            }, "required": []});
            elicit(
                &context,
                "Please pick options",
                schema,
                "Elicitation completed",
            )
            .await
        }
        "json_schema_2020_12_tool" => content(json!([{"type": "text",
            "text": format!("Received: {}", Value::Object(args.clone()))}])),
        other => Err(ErrorData::invalid_params(
            format!("no tool `{other}`"),
            None,
        )),
    }
}

fn content(blocks: Value) -> Result<CallToolResult, ErrorData> {
    typed(json!({"content": blocks}))
}

fn text(message: String) -> Result<CallToolResult, ErrorData> {
    content(json!([{"type": "text", "text": message}]))
}

/// Three `info` log notifications, skipped when the session asked for a higher level.
async fn with_logging(
    context: &RequestContext<RoleServer>,
    min_level: LoggingLevel,
) -> Result<CallToolResult, ErrorData> {
    let messages = [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ];
    for (n, message) in messages.into_iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(STEP).await;
        }
        if (LoggingLevel::Info as u8) < (min_level as u8) {
            continue;
        }
        let param = LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(message));
        let sent = context.peer.notify_logging_message(param).await;
        sent.map_err(|error| {
            ErrorData::internal_error(format!("log notification: {error}"), None)
        })?;
    }
    text("Tool with logging executed successfully".to_owned())
}

/// Progress 0, 50, 100 of 100 when the request carries a progress token.
async fn with_progress(context: &RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
    let token = context.meta.get_progress_token();
    for (n, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(STEP).await;
        }
        if let Some(token) = &token {
            let param: ProgressNotificationParam = typed(json!({
                "progressToken": token, "progress": progress, "total": 100.0
            }))?;
            context.peer.notify_progress(param).await.map_err(|error| {
                ErrorData::internal_error(format!("progress notification: {error}"), None)
            })?;
        }
    }
    text("Tool with progress executed successfully".to_owned())
}

async fn sampling(
    context: &RequestContext<RoleServer>,
    prompt: &str,
) -> Result<CallToolResult, ErrorData> {
    let params: CreateMessageRequestParams = typed(json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": 100
    }))?;
    let answer = context.peer.create_message(params).await;
    match answer {
        Ok(result) => {
            let reply = serde_json::to_value(&result.message.content).unwrap_or(Value::Null);
            let reply = reply
                .get("text")
                .and_then(Value::as_str)
                .map_or_else(|| reply.to_string(), str::to_owned);
            text(format!("LLM response: {reply}"))
        }
        Err(error) => typed(json!({"isError": true, "content": [{"type": "text",
            "text": format!("sampling failed: {error}")}]})),
    }
}

async fn elicit(
    context: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, ErrorData> {
    let params: ElicitRequestParams =
        typed(json!({"message": message, "requestedSchema": schema}))?;
    match context.peer.create_elicitation(params).await {
        Ok(result) => {
            let result = serde_json::to_value(&result).unwrap_or(Value::Null);
            let action = result.get("action").cloned().unwrap_or(Value::Null);
            let content = result.get("content").cloned().unwrap_or(Value::Null);
            text(format!("{label}: action={action}, content={content}"))
        }
        Err(error) => typed(json!({"isError": true, "content": [{"type": "text",
            "text": format!("elicitation failed: {error}")}]})),
    }
}
