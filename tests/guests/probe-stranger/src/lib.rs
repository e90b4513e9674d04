//! The KV probe at `/probe-stranger`, so tests can act as workflow `probe-stranger`.

floww::workflow! { "/probe-stranger" => kv_probe::handle }
