//! Printing a value the way an operator wants to read it at 3 a.m.: a string alone is printed
//! as it is (no quotes), a map or an array of maps is a table (comfy-table), a long array
//! is cut in the middle with a count, and nested values are shown inline, shortened.

use comfy_table::{ContentArrangement, Table, presets};
use rhai::{Array, Dynamic, ImmutableString, Map};

/// Rows of a table (and lines of a long array) shown before the rest is summarised.
pub const MAX_ROWS: usize = 40;
/// Rows shown from the end of a long array of strings (log lines: the end matters).
pub const TAIL_ROWS: usize = 10;
/// Characters of a table cell before it is cut with `…`.
pub const MAX_CELL: usize = 120;
/// Items of a nested array shown inline.
const MAX_INLINE_ITEMS: usize = 8;
/// Scalars of a top-level array printed on one line.
const MAX_FLAT_ITEMS: usize = 20;

/// Render `value` for the terminal; `None` for `()` (nothing to print).
pub fn render(value: &Dynamic) -> Option<String> {
    if value.is_unit() {
        return None;
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Some(s.to_string());
    }
    if let Some(map) = value.read_lock::<Map>() {
        return Some(render_map(&map));
    }
    if let Some(arr) = value.read_lock::<Array>() {
        return Some(render_array(&arr));
    }
    Some(inline(value, true, MAX_CELL))
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn is_map(v: &Dynamic) -> bool {
    v.read_lock::<Map>().is_some()
}

/// A map as a key/value table; values that are arrays of maps follow as their own tables.
fn render_map(map: &Map) -> String {
    if map.is_empty() {
        return "#{}".into();
    }
    let mut t = new_table();
    t.set_header(vec!["key", "value"]);
    let mut nested: Vec<(String, Array)> = Vec::new();
    for (k, v) in map {
        let cell = match v.read_lock::<Array>() {
            Some(a) if !a.is_empty() && a.iter().all(is_map) => {
                nested.push((k.to_string(), a.clone()));
                format!("[{} maps, below]", a.len())
            }
            _ => inline(v, false, MAX_CELL),
        };
        t.add_row(vec![k.to_string(), cell]);
    }
    let mut out = t.to_string();
    for (k, a) in nested {
        out.push_str(&format!("\n{k} ({}):\n", a.len()));
        out.push_str(&maps_table(&a));
    }
    out
}

/// An array: a table when every item is a map, one line per string, else inline.
fn render_array(arr: &Array) -> String {
    if arr.is_empty() {
        return "[]".into();
    }
    if arr.iter().all(is_map) {
        return maps_table(arr);
    }
    if arr.iter().all(|v| v.is_string()) {
        let lines: Vec<String> = arr.iter().map(|v| inline(v, false, usize::MAX)).collect();
        return head_tail(&lines);
    }
    if arr.len() <= MAX_FLAT_ITEMS {
        return inline_array(arr, arr.len(), usize::MAX);
    }
    let lines: Vec<String> = arr.iter().map(|v| inline(v, true, MAX_CELL)).collect();
    head_tail(&lines)
}

/// The first rows and the last ones of a long list, with a count of what was left out.
fn head_tail(lines: &[String]) -> String {
    if lines.len() <= MAX_ROWS + TAIL_ROWS {
        return lines.join("\n");
    }
    let hidden = lines.len() - MAX_ROWS - TAIL_ROWS;
    let mut out: Vec<String> = lines[..MAX_ROWS].to_vec();
    out.push(format!(
        "… {hidden} more ({} in all; index the value to see them) …",
        lines.len()
    ));
    out.extend_from_slice(&lines[lines.len() - TAIL_ROWS..]);
    out.join("\n")
}

/// A table of maps: one column per key (in order of first appearance), one row per map.
fn maps_table(arr: &Array) -> String {
    let mut columns: Vec<String> = Vec::new();
    for v in arr {
        if let Some(m) = v.read_lock::<Map>() {
            for k in m.keys() {
                if !columns.iter().any(|c| c == k.as_str()) {
                    columns.push(k.to_string());
                }
            }
        }
    }
    let mut t = new_table();
    t.set_header(columns.clone());
    for v in arr.iter().take(MAX_ROWS) {
        if let Some(m) = v.read_lock::<Map>() {
            let row: Vec<String> = columns
                .iter()
                .map(|c| {
                    m.get(c.as_str())
                        .map(|x| inline(x, false, MAX_CELL))
                        .unwrap_or_default()
                })
                .collect();
            t.add_row(row);
        }
    }
    let mut out = t.to_string();
    if arr.len() > MAX_ROWS {
        out.push_str(&format!(
            "\n… {} more row(s) ({} in all; index the value to see them)",
            arr.len() - MAX_ROWS,
            arr.len()
        ));
    }
    out
}

/// Cut `s` to `max` characters with `…`.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One value on one line: strings quoted when `quote` (inside arrays and maps), newlines
/// shown as `↵`, nested arrays and maps shortened; at most `max` characters.
pub fn inline(v: &Dynamic, quote: bool, max: usize) -> String {
    let s = if v.is_unit() {
        if quote {
            "()".to_string()
        } else {
            String::new()
        }
    } else if let Some(s) = v.read_lock::<ImmutableString>() {
        let flat = s.replace('\n', "↵");
        if quote { format!("{flat:?}") } else { flat }
    } else if let Some(m) = v.read_lock::<Map>() {
        let items: Vec<String> = m
            .iter()
            .take(MAX_INLINE_ITEMS)
            .map(|(k, x)| format!("{k}: {}", inline(x, true, 40)))
            .collect();
        let more = if m.len() > MAX_INLINE_ITEMS {
            format!(", … {} more", m.len() - MAX_INLINE_ITEMS)
        } else {
            String::new()
        };
        format!("#{{{}{more}}}", items.join(", "))
    } else if let Some(a) = v.read_lock::<Array>() {
        inline_array(&a, MAX_INLINE_ITEMS, 40)
    } else {
        v.to_string()
    };
    cut(&s, max)
}

fn inline_array(a: &Array, show: usize, item_max: usize) -> String {
    let items: Vec<String> = a
        .iter()
        .take(show)
        .map(|x| inline(x, true, item_max))
        .collect();
    let more = if a.len() > show {
        format!(", … {} more", a.len() - show)
    } else {
        String::new()
    };
    format!("[{}{more}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Dynamic {
        rhai::Engine::new().eval::<Dynamic>(src).expect(src)
    }

    #[test]
    fn strings_alone_are_unquoted_scalars_plain() {
        assert_eq!(
            render(&eval(r#""line one\nline two""#)).as_deref(),
            Some("line one\nline two")
        );
        assert_eq!(render(&eval("40 + 2")).as_deref(), Some("42"));
        assert_eq!(render(&eval("1.5")).as_deref(), Some("1.5"));
        assert_eq!(render(&eval("()")), None);
        assert_eq!(
            render(&eval(r#"[1, "a", true]"#)).as_deref(),
            Some(r#"[1, "a", true]"#)
        );
    }

    #[test]
    fn maps_are_key_value_tables() {
        let out = render(&eval(
            r#"#{used: 1024, mount: "/", nested: #{a: 1}, list: [1, 2]}"#,
        ))
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[1].contains("key") && lines[1].contains("value"),
            "{out}"
        );
        assert!(out.contains("│ used   ┆ 1024"), "{out}");
        assert!(out.contains("│ mount  ┆ /"), "{out}");
        assert!(out.contains("#{a: 1}") && out.contains("[1, 2]"), "{out}");
    }

    #[test]
    fn arrays_of_maps_are_tables_and_long_ones_are_cut() {
        let out = render(&eval(
            r#"[#{pid: 1, name: "init"}, #{pid: 42, name: "node", extra: "x"}]"#,
        ))
        .unwrap();
        let header = out.lines().nth(1).unwrap();
        assert!(
            header.contains("name") && header.contains("pid") && header.contains("extra"),
            "{out}"
        );
        assert!(out.contains("node"), "{out}");
        let out = render(&eval("let a = []; for i in 0..100 { a.push(#{n: i}) } a")).unwrap();
        assert!(out.contains("… 60 more row(s) (100 in all"), "{out}");
        assert!(out.contains("│ 39 ") && !out.contains("│ 40 "), "{out}");
    }

    #[test]
    fn nested_arrays_of_maps_follow_the_map() {
        let out = render(&eval(
            r#"#{total: 2, matches: [#{line: 1, text: "a"}, #{line: 7, text: "b"}]}"#,
        ))
        .unwrap();
        assert!(out.contains("[2 maps, below]"), "{out}");
        assert!(out.contains("matches (2):"), "{out}");
        assert!(out.contains("│ 7    ┆ b"), "{out}");
    }

    #[test]
    fn long_string_arrays_show_head_and_tail() {
        let out = render(&eval(
            r#"let a = []; for i in 0..200 { a.push(`line ${i}`) } a"#,
        ))
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), MAX_ROWS + TAIL_ROWS + 1);
        assert_eq!(lines[0], "line 0");
        assert!(lines[MAX_ROWS].contains("150 more (200 in all"), "{out}");
        assert_eq!(lines.last().copied(), Some("line 199"));
        let out = render(&eval("let a = []; for i in 0..100 { a.push(i) } a")).unwrap();
        assert!(out.contains("… 50 more"), "{out}");
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "x".repeat(500);
        let out = render(&eval(&format!(r#"#{{s: "{long}"}}"#))).unwrap();
        assert!(
            out.contains(&format!("{}…", "x".repeat(MAX_CELL - 1))),
            "{out}"
        );
        assert!(!out.contains(&"x".repeat(MAX_CELL)), "{out}");
    }
}
