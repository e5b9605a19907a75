//! The routes masq holds for a routing daemon while the box is healthy
//! (`[routing]`, docs/scale-out.md).

use serde_json::Value;

use super::Control;

impl Control {
    /// `masq drain`: the access routes announced as draining, or again as
    /// access routes.
    pub(super) fn drain(&mut self, on: bool) -> Result<Value, String> {
        let _ = on;
        Err("routing: not built yet".into())
    }
}
