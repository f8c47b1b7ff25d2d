//! Run-time choice of llama.cpp's CPU kernels (the `cpu-variants` feature).
//!
//! That build compiles llama.cpp's CPU backend once per instruction-set level, each a shared
//! module (`libggml-cpu-haswell.so`, `libggml-cpu-zen4.so`, …) that can score how well the
//! running CPU supports it (0: it would fault here). [`load`] picks the best-scoring module
//! itself rather than through `ggml_backend_load_all`, so that the engine can say which one
//! runs and a benchmark can pin one by name (`GRLM_CPU_VARIANT`).
//!
//! The modules are looked for in `GRLM_BACKENDS_DIR` when it is set, else next to the code
//! that holds this function (the `libgrlm.so` an app loaded, or the executable linking grlm
//! statically), else in the build tree llama.cpp was installed to (tests, `cargo run`).

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// File names of the variants: `libggml-cpu-<name>.so`.
const PREFIX: &str = "libggml-cpu-";
const SUFFIX: &str = ".so";

/// A CPU module found on disk and how well this CPU runs it.
struct Candidate {
    name: String,
    path: PathBuf,
    score: i32,
}

/// Finds the modules, registers the best one (or `GRLM_CPU_VARIANT`'s) with llama.cpp and
/// returns its name. Called once, before the first model is loaded.
pub(super) fn load() -> Result<String, String> {
    let (dir, paths) = modules()?;
    let candidates = scored(paths)?;
    let chosen = match std::env::var("GRLM_CPU_VARIANT") {
        Ok(name) => {
            let found = candidates.iter().find(|c| c.name == name).ok_or_else(|| {
                format!(
                    "GRLM_CPU_VARIANT={name}: no such variant in {} (there are: {})",
                    dir.display(),
                    names(&candidates)
                )
            })?;
            if found.score == 0 {
                return Err(format!(
                    "GRLM_CPU_VARIANT={name}: this CPU lacks instructions that variant needs"
                ));
            }
            found
        }
        Err(_) => candidates
            .iter()
            .filter(|c| c.score > 0)
            .max_by_key(|c| c.score)
            .ok_or_else(|| {
                format!(
                    "no CPU variant in {} runs on this CPU (there are: {})",
                    dir.display(),
                    names(&candidates)
                )
            })?,
    };
    let path = c_path(&chosen.path)?;
    // SAFETY: `path` is a NUL-terminated path that outlives the call; ggml_backend_load
    // opens the module and registers its backend, returning NULL on failure.
    let reg = unsafe { llama_cpp_sys_2::ggml_backend_load(path.as_ptr()) };
    if reg.is_null() {
        return Err(format!("{}: llama.cpp could not load it", chosen.path.display()));
    }
    Ok(chosen.name.clone())
}

/// The first of the places listed in the module docs that holds a CPU variant, and the
/// variants there (name and path, by name).
fn modules() -> Result<(PathBuf, Vec<(String, PathBuf)>), String> {
    if let Some(dir) = std::env::var_os("GRLM_BACKENDS_DIR") {
        let dir = PathBuf::from(dir);
        let paths = candidate_paths(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if paths.is_empty() {
            return Err(format!("{}: no {PREFIX}*{SUFFIX} there", dir.display()));
        }
        return Ok((dir, paths));
    }
    let places = [own_directory(), llama_cpp_sys_2::BACKENDS_DIR.map(PathBuf::from)];
    places
        .iter()
        .flatten()
        .find_map(|dir| {
            let paths = candidate_paths(dir).ok().filter(|paths| !paths.is_empty())?;
            Some((dir.clone(), paths))
        })
        .ok_or_else(|| {
            let tried: Vec<String> = places.iter().flatten().map(|d| d.display().to_string()).collect();
            format!(
                "no {PREFIX}*{SUFFIX} next to libgrlm or in the build tree (looked in: {}); set GRLM_BACKENDS_DIR",
                tried.join(", ")
            )
        })
}

/// The directory of the file this code was loaded from.
fn own_directory() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::uninit();
    let here = own_directory as *const libc::c_void;
    // SAFETY: dladdr reads the address (of a function of this object, so it is mapped)
    // and fills `info` when it returns non-zero; nothing is read from `info` otherwise.
    if unsafe { libc::dladdr(here, info.as_mut_ptr()) } == 0 {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so it initialised `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the dynamic loader, valid while
    // the object stays loaded (this code runs inside it); it is copied at once.
    let file = unsafe { CStr::from_ptr(info.dli_fname) };
    let file = PathBuf::from(std::ffi::OsStr::from_bytes(file.to_bytes()));
    let file = std::fs::canonicalize(&file).unwrap_or(file);
    file.parent().map(Path::to_path_buf)
}

fn candidate_paths(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(variant) = name.strip_prefix(PREFIX).and_then(|n| n.strip_suffix(SUFFIX)) {
            found.push((variant.to_owned(), path.clone()));
        }
    }
    found.sort();
    Ok(found)
}

/// Every variant with its score, each module opened and closed again.
fn scored(paths: Vec<(String, PathBuf)>) -> Result<Vec<Candidate>, String> {
    paths
        .into_iter()
        .map(|(name, path)| {
            let score = score(&path)?;
            Ok(Candidate { name, path, score })
        })
        .collect()
}

/// The module's own `ggml_backend_score`: 0 when this CPU cannot run it, higher the more
/// of the instructions it was built for the CPU has.
fn score(path: &Path) -> Result<i32, String> {
    let c = c_path(path)?;
    // SAFETY: `c` is a NUL-terminated path; dlopen returns NULL on failure. Opening a
    // module runs only its initialisers, which must not need the instructions it was built
    // for: llama.cpp's own loader opens every variant on any CPU the same way to score it.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("{}: cannot open it: {}", path.display(), dl_error()));
    }
    // SAFETY: `handle` is a live handle from dlopen and the symbol name is NUL-terminated.
    let symbol = unsafe { libc::dlsym(handle, c"ggml_backend_score".as_ptr()) };
    let score = if symbol.is_null() {
        0
    } else {
        // SAFETY: ggml's CPU modules export `int ggml_backend_score(void)` under this name
        // (`ggml_backend_score_t` in ggml-backend-impl.h), so the address is a function of
        // that type.
        let score: extern "C" fn() -> i32 = unsafe { std::mem::transmute(symbol) };
        score()
    };
    // SAFETY: `handle` came from dlopen above and nothing from the module is used after
    // this (ggml_backend_load opens it again by path).
    unsafe { libc::dlclose(handle) };
    Ok(score)
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message valid until the next dl*
    // call on this thread; it is copied at once.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown error".into();
    }
    // SAFETY: non-NULL, so a NUL-terminated string (see above).
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| format!("{}: the path holds a NUL byte", path.display()))
}

fn names(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
