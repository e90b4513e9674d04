//! The KV probe at `/probe-owner`, so tests can act as workflow `probe-owner`.

floww::workflow! { "/probe-owner" => kv_probe::handle }
