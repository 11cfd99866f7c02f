//! Element types with a known wire shape: [`Items`] (what flat-mapping and partition-wise
//! functions return, so built-ins can split the result into elements) and [`JsonValue`] (a
//! JSON document travelling as its compact text).

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

/// A list of elements encoded one by one (the partition format), so a built-in can split it
/// without knowing `U`. Return it from functions given to `flat_map` and `map_partitions`:
///
/// ```
/// use rask_collections::bag::Items;
/// rask_actors::task! {
///     /// The words of a line.
///     pub fn words(line: String) -> Items<String> {
///         line.split_whitespace().map(String::from).collect()
///     }
/// }
/// assert_eq!(words::call("a b".into()).0, vec!["a", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Items<U>(pub Vec<U>);

impl<U> FromIterator<U> for Items<U> {
    fn from_iter<I: IntoIterator<Item = U>>(iter: I) -> Self {
        Items(iter.into_iter().collect())
    }
}

impl<U> From<Vec<U>> for Items<U> {
    fn from(v: Vec<U>) -> Self {
        Items(v)
    }
}

impl<U: Serialize> Serialize for Items<U> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for u in &self.0 {
            let b = postcard::to_stdvec(u).map_err(S::Error::custom)?;
            seq.serialize_element(serde_bytes::Bytes::new(&b))?;
        }
        seq.end()
    }
}

impl<'de, U: DeserializeOwned> Deserialize<'de> for Items<U> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<ByteBuf>::deserialize(d)?;
        raw.iter()
            .map(|b| postcard::from_bytes(b).map_err(D::Error::custom))
            .collect::<Result<Vec<U>, _>>()
            .map(Items)
    }
}

/// A JSON document as a bag element. It travels as its compact JSON text (the same encoding
/// as a `String`), because postcard cannot carry self-describing values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonValue(pub serde_json::Value);

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text)
            .map(JsonValue)
            .map_err(D::Error::custom)
    }
}

impl JsonValue {
    /// The field `name` of an object (or the element at index `name` of an array).
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        match &self.0 {
            serde_json::Value::Array(a) => name.parse::<usize>().ok().and_then(|i| a.get(i)),
            v => v.get(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{decode_value, encode_value};

    #[test]
    fn items_encode_as_the_partition_format_and_round_trip() {
        let items = Items(vec![(1i64, "a".to_string()), (2, "b".to_string())]);
        let b = encode_value(&items).unwrap();
        let recs: Vec<&[u8]> = super::super::records::records(&b)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], &encode_value(&(2i64, "b")).unwrap()[..]);
        assert_eq!(decode_value::<Items<(i64, String)>>(&b).unwrap(), items);
    }

    #[test]
    fn json_values_travel_as_text() {
        let v = JsonValue(serde_json::json!({"a": [1, 2], "b": "x"}));
        let b = encode_value(&v).unwrap();
        assert_eq!(
            decode_value::<String>(&b).unwrap(),
            r#"{"a":[1,2],"b":"x"}"#
        );
        assert_eq!(decode_value::<JsonValue>(&b).unwrap(), v);
        assert_eq!(v.get("b"), Some(&serde_json::json!("x")));
        let arr = JsonValue(serde_json::json!([5, 6]));
        assert_eq!(arr.get("1"), Some(&serde_json::json!(6)));
    }
}
