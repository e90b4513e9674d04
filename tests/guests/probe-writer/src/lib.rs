//! The KV probe at `/probe-writer`, so tests can act as workflow `probe-writer`.

floww::workflow! { "/probe-writer" => kv_probe::handle }
