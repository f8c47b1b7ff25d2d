//! `tiny-model OUT.gguf`: writes the tiny test model whose tokenizer learned the fixture
//! catalogue's TIDs (the one the test suite uses), for scripts that need a real GGUF in
//! seconds and without a download, such as the GPU bundle's CPU dry run.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = &args[..] else {
        eprintln!("usage: tiny-model OUT.gguf");
        return ExitCode::from(2);
    };
    let bytes = grlm_testkit::fixtures::tiny_fixture_model();
    match grlm::atomic_write::write_atomically(std::path::Path::new(out), |w| w.write_all(&bytes)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
