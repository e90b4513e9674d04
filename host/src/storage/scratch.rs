//! A scratch PostgreSQL database for tests (unit tests, the integration
//! suite and the benches): compiled only for them, never into the binary.

use postgres::NoTls;

/// A database of its own on the server `FLOWW_TEST_POSTGRES` names, dropped
/// with the value: for tests that run on PostgreSQL.
pub struct ScratchDatabase {
    server: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates the database; panics with what to do when there's no server.
    pub fn create() -> ScratchDatabase {
        let server = std::env::var("FLOWW_TEST_POSTGRES").expect(
            "the PostgreSQL tests need FLOWW_TEST_POSTGRES=postgres://… naming a server; \
             `bash scripts/test.sh` starts a throwaway one and runs every test",
        );
        let name = format!("floww_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = postgres::Client::connect(&server, NoTls).expect("connect to FLOWW_TEST_POSTGRES");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
        ScratchDatabase { server, name }
    }

    pub fn url(&self) -> String {
        let base = self.server.rsplit_once('/').expect("FLOWW_TEST_POSTGRES ends in /DATABASE").0;
        format!("{base}/{}", self.name)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.server, NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
