//! A sweep's runs from its parameter space, without IO: the grid of every combination of
//! value lists, or `samples` seeded draws from lists and ranges.

use serde_json::Value;
use std::collections::BTreeMap;

/// The most runs one sweep may have.
pub const MAX_RUNS: usize = 1000;

/// One run's parameter values, by name.
pub type Combination = BTreeMap<String, String>;

/// The runs of `space` (name -> list of values, or `{"min", "max", "integer"}` for random
/// search): with `samples`, that many draws seeded by `seed`; without, the grid, names in
/// their order, the last varying fastest. Errors name the field.
pub fn expand(
    space: &BTreeMap<String, Value>,
    samples: Option<i64>,
    seed: i64,
) -> Result<Vec<Combination>, String> {
    if space.is_empty() {
        return Err("parameters: give at least one parameter".to_owned());
    }
    let mut dims = Vec::new();
    for (name, values) in space {
        if name.is_empty() || name.contains('=') {
            return Err(format!("parameters.{name}: not a parameter name"));
        }
        dims.push((name, Dim::parse(name, values, samples.is_some())?));
    }
    match samples {
        Some(n) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_RUNS).contains(n))
                .ok_or_else(|| format!("samples:{n} must be in [1,{MAX_RUNS}]"))?;
            let mut rng = SplitMix(seed as u64);
            Ok((0..n)
                .map(|_| {
                    dims.iter()
                        .map(|(name, dim)| ((*name).clone(), dim.draw(&mut rng)))
                        .collect()
                })
                .collect())
        }
        None => {
            let total = dims.iter().try_fold(1usize, |n, (_, d)| match d {
                Dim::List(values) => n.checked_mul(values.len()),
                Dim::Range { .. } => None,
            });
            let total = total
                .filter(|n| *n <= MAX_RUNS)
                .ok_or_else(|| format!("parameters: the grid has more than {MAX_RUNS} runs"))?;
            Ok((0..total)
                .map(|mut i| {
                    let mut combo = Combination::new();
                    for (name, dim) in dims.iter().rev() {
                        let Dim::List(values) = dim else {
                            unreachable!("a grid has lists only")
                        };
                        combo.insert((*name).clone(), values[i % values.len()].clone());
                        i /= values.len();
                    }
                    combo
                })
                .collect())
        }
    }
}

/// One parameter's values.
enum Dim {
    List(Vec<String>),
    Range { min: f64, max: f64, integer: bool },
}

impl Dim {
    fn parse(name: &str, values: &Value, random: bool) -> Result<Dim, String> {
        match values {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(format!(
                        "parameters.{name}: values are numbers, strings or booleans"
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Dim::List),
            Value::Object(range) if random => {
                let bound = |key: &str| {
                    range
                        .get(key)
                        .and_then(Value::as_f64)
                        .ok_or_else(|| format!("parameters.{name}.{key}: a number is required"))
                };
                let (min, max) = (bound("min")?, bound("max")?);
                if !(min.is_finite() && max.is_finite() && min <= max) {
                    return Err(format!("parameters.{name}: min must not exceed max"));
                }
                let integer = range.get("integer").and_then(Value::as_bool) == Some(true);
                Ok(Dim::Range { min, max, integer })
            }
            Value::Object(_) => Err(format!(
                "parameters.{name}: a range needs random search (samples); a grid takes a list"
            )),
            _ => Err(format!(
                "parameters.{name}: give a non-empty list of values{}",
                if random { " or {\"min\", \"max\"}" } else { "" }
            )),
        }
    }

    fn draw(&self, rng: &mut SplitMix) -> String {
        match self {
            Dim::List(values) => values[(rng.next() % values.len() as u64) as usize].clone(),
            Dim::Range { min, max, integer } => {
                let unit = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                if *integer {
                    let (lo, hi) = (min.ceil() as i64, max.floor() as i64);
                    let span = (hi - lo + 1).max(1) as u64;
                    (lo + (rng.next() % span) as i64).to_string()
                } else {
                    (min + unit * (max - min)).to_string()
                }
            }
        }
    }
}

/// SplitMix64: a small seeded generator, so the same seed draws the same runs on every
/// server and version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_grid_has_every_combination_once() {
        let s = space(json!({"lr": [0.1, 0.01, 0.001], "batch": [16, 32], "opt": ["sgd", "adam"]}));
        let runs = expand(&s, None, 0).unwrap();
        assert_eq!(runs.len(), 12);
        let distinct: std::collections::BTreeSet<_> = runs.iter().collect();
        assert_eq!(distinct.len(), 12);
        assert_eq!(runs[0]["batch"], "16");
        assert_eq!(runs[0]["lr"], "0.1");
        assert_eq!(runs[0]["opt"], "sgd");
        assert_eq!(runs[1]["opt"], "adam", "the last name varies fastest");
    }

    #[test]
    fn random_draws_are_seeded_and_within_range() {
        let s = space(
            json!({"lr": {"min": 0.5, "max": 1.5}, "depth": {"min": 2, "max": 4, "integer": true}, "act": ["relu", "tanh"]}),
        );
        let a = expand(&s, Some(20), 7).unwrap();
        assert_eq!(a, expand(&s, Some(20), 7).unwrap());
        assert_ne!(a, expand(&s, Some(20), 8).unwrap());
        for run in &a {
            let lr: f64 = run["lr"].parse().unwrap();
            assert!((0.5..=1.5).contains(&lr));
            let depth: i64 = run["depth"].parse().unwrap();
            assert!((2..=4).contains(&depth));
            assert!(["relu", "tanh"].contains(&run["act"].as_str()));
        }
    }

    #[test]
    fn bad_spaces_are_refused_naming_the_field() {
        let err = |v: Value, samples| expand(&space(v), samples, 0).unwrap_err();
        assert!(err(json!({}), None).starts_with("parameters:"));
        assert!(err(json!({"lr": []}), None).starts_with("parameters.lr:"));
        assert!(err(json!({"lr": {"min": 1, "max": 2}}), None).contains("random search"));
        assert!(
            err(json!({"lr": {"min": 3, "max": 2}}), Some(2)).contains("min must not exceed max")
        );
        assert!(err(json!({"lr": [1]}), Some(0)).starts_with("samples:0"));
        let big: Vec<i64> = (0..40).collect();
        assert!(err(json!({"a": big, "b": big}), None).contains("more than 1000 runs"));
    }
}
