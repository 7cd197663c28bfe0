//! One AlwaysOn_health event as SQL Server writes it in `event_data` (the text of
//! `sys.fn_xe_file_target_read_file`):
//!
//! ```xml
//! <event name="availability_replica_state_change" package="sqlserver" timestamp="2026-11-21T02:14:07.412Z">
//!   <data name="previous_state"><value>3</value><text><![CDATA[PRIMARY_NORMAL]]></text></data>
//!   ...
//! </event>
//! ```
//!
//! Each `data` element holds a `value` (the raw value: a number, GUID, string, or for `xml` fields
//! such as `sp_server_diagnostics_component_result.data` an element) and, for map fields, a `text`
//! with the map's name for that value. The ring-buffer form adds `<type>` children; they are
//! ignored. Parsed with roxmltree (strict XML 1.0, no DTD expansion): never by pattern matching.

/// One field of an event: its raw `value` and, for map fields, the mapped `text`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: Option<String>,
    pub text: Option<String>,
    /// For an `xml` field, the root element inside `value` and its attributes.
    pub element: Option<(String, Vec<(String, String)>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XEvent {
    pub name: String,
    pub package: Option<String>,
    /// The event's `timestamp` attribute: UTC, ISO 8601 with `Z`.
    pub timestamp: Option<String>,
    pub fields: Vec<Field>,
}

impl XEvent {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The mapped text of a map field, else its raw value (trimmed; `None` when empty).
    pub fn text(&self, name: &str) -> Option<&str> {
        let f = self.field(name)?;
        f.text.as_deref().or(f.value.as_deref()).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The raw value of a field (trimmed; `None` when empty).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.field(name)?.value.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.value(name)?.parse().ok()
    }
}

/// Parses one event's XML; the error says why the text is not an event.
pub fn parse(xml: &str) -> Result<XEvent, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("event") {
        return Err(format!("root element is <{}>, not <event>", root.tag_name().name()));
    }
    let name = root.attribute("name").ok_or("<event> has no name attribute")?.to_string();
    let mut event = XEvent {
        name,
        package: root.attribute("package").map(str::to_string),
        timestamp: root.attribute("timestamp").map(str::to_string),
        fields: Vec::new(),
    };
    for data in root.children().filter(|n| n.has_tag_name("data")) {
        let Some(field_name) = data.attribute("name") else { continue };
        let mut field = Field { name: field_name.to_string(), ..Field::default() };
        for child in data.children().filter(|n| n.is_element()) {
            match child.tag_name().name() {
                "value" => {
                    if let Some(inner) = child.children().find(|n| n.is_element()) {
                        let attrs = inner.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect();
                        field.element = Some((inner.tag_name().name().to_string(), attrs));
                    }
                    field.value = Some(child.children().filter(|n| n.is_text()).filter_map(|n| n.text()).collect());
                }
                "text" => field.text = Some(child.children().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()),
                _ => {}
            }
        }
        event.fields.push(field);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_map_texts_cdata_and_xml_fields() {
        let xml = r#"<event name="sp_server_diagnostics_component_result" package="sqlserver" timestamp="2026-11-21T02:13:51.207Z"><data name="component"><type name="component_type" package="sqlserver"></type><value>1</value><text><![CDATA[SYSTEM]]></text></data><data name="state"><value>3</value><text><![CDATA[ERROR]]></text></data><data name="data"><value><system spinlockBackoffs="0" sickSpinlockType="none" isAccessViolationOccurred="0" /></value></data></event>"#;
        let e = parse(xml).unwrap();
        assert_eq!(e.name, "sp_server_diagnostics_component_result");
        assert_eq!(e.timestamp.as_deref(), Some("2026-11-21T02:13:51.207Z"));
        assert_eq!(e.text("component"), Some("SYSTEM"));
        assert_eq!(e.int("state"), Some(3));
        assert_eq!(e.field("data").and_then(|f| f.element.as_ref()).map(|(n, _)| n.as_str()), Some("system"));
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        assert!(parse("<event name='x'>").is_err());
        assert!(parse("<other/>").unwrap_err().contains("not <event>"));
        assert!(parse("<event/>").is_err());
    }
}
