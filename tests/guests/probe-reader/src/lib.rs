//! The KV probe at `/probe-reader`, so tests can act as workflow `probe-reader`.

floww::workflow! { "/probe-reader" => kv_probe::handle }
