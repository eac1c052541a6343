//! Kubernetes resource quantities, for the sizing profile.
//!
//! A profile scales every `requests`/`limits` CPU and memory figure of the
//! environment sizing files. Other `cpu`/`memory` keys (a JVM heap written as
//! "8g", a Spark executor setting) are left alone: their syntax is not a
//! Kubernetes quantity.

use serde_json::Value;

pub fn scale_resources(value: &mut Value, factor: f64) {
    if (factor - 1.0).abs() < f64::EPSILON {
        return;
    }
    walk(value, factor, false);
}

fn walk(value: &mut Value, factor: f64, in_resources: bool) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if in_resources && (k == "cpu" || k == "memory") {
                    let scaled = match &*v {
                        Value::String(s) => scale(s, k == "cpu", factor),
                        Value::Number(n) => n
                            .as_f64()
                            .and_then(|n| scale(&n.to_string(), k == "cpu", factor)),
                        _ => None,
                    };
                    if let Some(s) = scaled {
                        *v = Value::String(s);
                    }
                } else {
                    walk(v, factor, k == "requests" || k == "limits");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, factor, false)),
        _ => {}
    }
}

/// Scale one quantity; `None` when it is not a quantity this module reads.
pub fn scale(q: &str, cpu: bool, factor: f64) -> Option<String> {
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let num: f64 = num.parse().ok()?;
    if cpu {
        let milli = match unit {
            "" => num * 1000.0,
            "m" => num,
            _ => return None,
        };
        let scaled = (milli * factor).round().max(1.0) as u64;
        Some(if scaled.is_multiple_of(1000) {
            (scaled / 1000).to_string()
        } else {
            format!("{scaled}m")
        })
    } else {
        let mib = match unit {
            "Ki" => num / 1024.0,
            "Mi" => num,
            "Gi" => num * 1024.0,
            "Ti" => num * 1024.0 * 1024.0,
            _ => return None,
        };
        let scaled = (mib * factor).round().max(1.0) as u64;
        Some(if scaled.is_multiple_of(1024) {
            format!("{}Gi", scaled / 1024)
        } else {
            format!("{scaled}Mi")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scales_cpu_and_memory() {
        assert_eq!(scale("500m", true, 0.5).as_deref(), Some("250m"));
        assert_eq!(scale("2", true, 2.0).as_deref(), Some("4"));
        assert_eq!(scale("1", true, 0.5).as_deref(), Some("500m"));
        assert_eq!(scale("2Gi", false, 0.5).as_deref(), Some("1Gi"));
        assert_eq!(scale("1Gi", false, 0.5).as_deref(), Some("512Mi"));
        assert_eq!(scale("8g", false, 2.0), None);
    }

    #[test]
    fn only_resources_are_scaled() {
        let mut v = json!({"resources": {"requests": {"cpu": "1", "memory": "2Gi"}}, "jvm": {"memory": "8g"}});
        scale_resources(&mut v, 2.0);
        assert_eq!(
            v,
            json!({"resources": {"requests": {"cpu": "2", "memory": "4Gi"}}, "jvm": {"memory": "8g"}})
        );
    }
}
