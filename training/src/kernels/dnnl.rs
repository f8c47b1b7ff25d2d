//! oneDNN's matmul primitive, loaded at run time: the only module that touches libdnnl.
//!
//! oneDNN picks the best kernel of the CPU at hand (AMX tiles on recent Xeons, AVX-512 bf16
//! dot products on AMD Zen 4 and Cooper Lake) and runs bf16 products at two to ten times
//! the trainer's fp32 speed. It is loaded with `dlopen` rather than linked, so a machine
//! without it builds and trains the same way on candle's kernels; `GRLM_TRAIN_DNNL=0` asks
//! for that path on a machine that has it. The C API of oneDNN 2.x (`libdnnl.so.2`, Debian's
//! `libdnnl2`) is used: its descriptors are plain structs the library fills, so they are
//! held here as opaque buffers larger than the library's own (696 and 2,800 bytes in 2.6).

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, OnceLock};

type Status = c_int;
type Handle = *mut c_void;

const SUCCESS: Status = 0;
const ENGINE_CPU: c_int = 1;
const STREAM_IN_ORDER: u32 = 1;
const F32: c_int = 3;
const BF16: c_int = 2;
const TAG_AB: c_int = 3;
const TAG_BA: c_int = 22;
const QUERY_IMPL_INFO_STR: c_int = 8;
const ARG_SRC: c_int = 1;
const ARG_WEIGHTS: c_int = 33;
const ARG_DST: c_int = 17;
const MAX_NDIMS: usize = 12;

/// `dnnl_memory_desc_t`, opaque.
#[repr(C, align(64))]
struct MemoryDesc([u8; 2048]);
/// `dnnl_matmul_desc_t`, opaque.
#[repr(C, align(64))]
struct MatmulDesc([u8; 8192]);

#[repr(C)]
struct ExecArg {
    arg: c_int,
    memory: Handle,
}

/// The entry points used, resolved once.
struct Api {
    engine_create: unsafe extern "C" fn(*mut Handle, c_int, usize) -> Status,
    stream_create: unsafe extern "C" fn(*mut Handle, Handle, u32) -> Status,
    stream_wait: unsafe extern "C" fn(Handle) -> Status,
    md_init_by_tag: unsafe extern "C" fn(*mut MemoryDesc, c_int, *const i64, c_int, c_int) -> Status,
    matmul_desc_init: unsafe extern "C" fn(
        *mut MatmulDesc,
        *const MemoryDesc,
        *const MemoryDesc,
        *const MemoryDesc,
        *const MemoryDesc,
    ) -> Status,
    pd_create: unsafe extern "C" fn(*mut Handle, *const c_void, *const c_void, Handle, *const c_void) -> Status,
    pd_query: unsafe extern "C" fn(*const c_void, c_int, c_int, *mut c_void) -> Status,
    pd_destroy: unsafe extern "C" fn(Handle) -> Status,
    primitive_create: unsafe extern "C" fn(*mut Handle, *const c_void) -> Status,
    execute: unsafe extern "C" fn(*const c_void, Handle, c_int, *const ExecArg) -> Status,
    memory_create: unsafe extern "C" fn(*mut Handle, *const MemoryDesc, Handle, *mut c_void) -> Status,
    memory_destroy: unsafe extern "C" fn(Handle) -> Status,
}

/// One compiled product `[m, k] · [k, n]`, and the descriptors its memory objects need.
struct Matmul {
    primitive: Handle,
    src: Box<MemoryDesc>,
    weights: Box<MemoryDesc>,
    dst: Box<MemoryDesc>,
}

// SAFETY: a compiled primitive is immutable, and oneDNN documents executing one from
// several threads at once (each on its own stream) as safe.
unsafe impl Send for Matmul {}
// SAFETY: as above.
unsafe impl Sync for Matmul {}

/// The shape of a product: `m`, `k`, `n`, and whether the right-hand side is stored
/// transposed (`[n, k]` row-major).
type Shape = (usize, usize, usize, bool);

/// A compiled product is used by one thread at a time: the primitive's scratch memory is
/// its own, so two threads running one primitive at once would share it.
type Key = (Shape, Option<usize>);

thread_local! {
    /// This thread's stream: products run on the calling thread (oneDNN's own OpenMP
    /// threads are held to one), in parallel over rows from rayon's pool.
    static STREAM: Cell<Handle> = const { Cell::new(std::ptr::null_mut()) };
}

/// oneDNN, loaded and ready: one CPU engine, the products compiled so far.
pub struct Dnnl {
    // Kept so the entry points stay valid for the life of the process.
    _lib: libloading::Library,
    api: Api,
    engine: Handle,
    /// The kernel oneDNN chose for a representative bf16 product, e.g. `brg:avx512_core_bf16`.
    pub kernel: String,
    matmuls: Mutex<HashMap<Key, Arc<Matmul>>>,
}

// SAFETY: the engine is immutable after creation and oneDNN documents it as thread-safe;
// streams are per thread, and the compiled primitives are shared read-only.
unsafe impl Send for Dnnl {}
// SAFETY: as above.
unsafe impl Sync for Dnnl {}

/// Why oneDNN is not used.
#[derive(Debug, thiserror::Error)]
pub enum DnnlError {
    /// The library could not be loaded (not installed, or another major version).
    #[error("libdnnl.so.2 not loaded: {0}")]
    Load(String),
    /// A call failed.
    #[error("oneDNN {call} failed with status {status}")]
    Call {
        /// The function.
        call: &'static str,
        /// Its `dnnl_status_t`.
        status: i32,
    },
    /// The product's sizes do not fit oneDNN's signed 64-bit dimensions or the buffers.
    #[error("matmul shape [{m}, {k}] x [{k}, {n}] does not fit the buffers given")]
    Shape {
        /// Rows.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Columns.
        n: usize,
    },
}

fn check(call: &'static str, status: Status) -> Result<(), DnnlError> {
    if status == SUCCESS {
        Ok(())
    } else {
        Err(DnnlError::Call { call, status })
    }
}

/// The process's oneDNN, if it loads and `GRLM_TRAIN_DNNL` is not `0`.
pub fn get() -> Option<&'static Dnnl> {
    static DNNL: OnceLock<Option<Dnnl>> = OnceLock::new();
    DNNL.get_or_init(|| {
        if std::env::var("GRLM_TRAIN_DNNL").is_ok_and(|v| v == "0") {
            return None;
        }
        Dnnl::load().ok()
    })
    .as_ref()
}

impl Dnnl {
    fn load() -> Result<Dnnl, DnnlError> {
        // SAFETY: loading runs the library's initialisers; libdnnl's are its own static
        // constructors (and OpenMP's), which have no preconditions on the caller.
        let lib = unsafe { libloading::Library::new("libdnnl.so.2") }.map_err(|e| DnnlError::Load(e.to_string()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the symbol's type is the one oneDNN 2.x declares in dnnl.h for
                // this name; the library stays loaded for as long as `Dnnl` lives.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| DnnlError::Load(e.to_string()))?
            };
        }
        let api = Api {
            engine_create: sym!("dnnl_engine_create"),
            stream_create: sym!("dnnl_stream_create"),
            stream_wait: sym!("dnnl_stream_wait"),
            md_init_by_tag: sym!("dnnl_memory_desc_init_by_tag"),
            matmul_desc_init: sym!("dnnl_matmul_desc_init"),
            pd_create: sym!("dnnl_primitive_desc_create"),
            pd_query: sym!("dnnl_primitive_desc_query"),
            pd_destroy: sym!("dnnl_primitive_desc_destroy"),
            primitive_create: sym!("dnnl_primitive_create"),
            execute: sym!("dnnl_primitive_execute"),
            memory_create: sym!("dnnl_memory_create"),
            memory_destroy: sym!("dnnl_memory_destroy"),
        };
        let mut engine: Handle = std::ptr::null_mut();
        // SAFETY: `engine` is a valid out-pointer; index 0 is the only CPU engine.
        check("dnnl_engine_create", unsafe {
            (api.engine_create)(&mut engine, ENGINE_CPU, 0)
        })?;
        let mut dnnl = Dnnl {
            _lib: lib,
            api,
            engine,
            kernel: String::new(),
            matmuls: Mutex::new(HashMap::new()),
        };
        let (_, kernel) = dnnl.compile((64, 576, 576, true))?;
        dnnl.kernel = kernel;
        Ok(dnnl)
    }

    fn desc(&self, rows: usize, cols: usize, data_type: c_int, tag: c_int) -> Result<Box<MemoryDesc>, DnnlError> {
        let mut dims = [0i64; MAX_NDIMS];
        dims[0] = rows as i64;
        dims[1] = cols as i64;
        let mut desc = Box::new(MemoryDesc([0; 2048]));
        // SAFETY: `desc` is larger than `dnnl_memory_desc_t` and aligned for it; `dims`
        // holds the two dimensions read for ndims 2.
        check("dnnl_memory_desc_init_by_tag", unsafe {
            (self.api.md_init_by_tag)(&mut *desc, 2, dims.as_ptr(), data_type, tag)
        })?;
        Ok(desc)
    }

    /// Compiles the product of `key`: bf16 operands, f32 result. Returns it and the name of
    /// the kernel oneDNN chose.
    fn compile(&self, (m, k, n, transposed): Shape) -> Result<(Matmul, String), DnnlError> {
        let src = self.desc(m, k, BF16, TAG_AB)?;
        let weights = self.desc(k, n, BF16, if transposed { TAG_BA } else { TAG_AB })?;
        let dst = self.desc(m, n, F32, TAG_AB)?;
        let mut op = Box::new(MatmulDesc([0; 8192]));
        // SAFETY: every descriptor was initialised above; `op` is larger than
        // `dnnl_matmul_desc_t`; a null bias means none.
        check("dnnl_matmul_desc_init", unsafe {
            (self.api.matmul_desc_init)(&mut *op, &*src, &*weights, std::ptr::null(), &*dst)
        })?;
        let mut pd: Handle = std::ptr::null_mut();
        // SAFETY: `op` is an initialised operation descriptor; no attributes, no hint.
        check("dnnl_primitive_desc_create", unsafe {
            (self.api.pd_create)(
                &mut pd,
                (&*op as *const MatmulDesc).cast(),
                std::ptr::null(),
                self.engine,
                std::ptr::null(),
            )
        })?;
        let mut name: *const c_char = std::ptr::null();
        // SAFETY: `pd` is valid; the query writes a pointer to a string owned by `pd`.
        let kernel =
            if unsafe { (self.api.pd_query)(pd, QUERY_IMPL_INFO_STR, 0, (&mut name as *mut *const c_char).cast()) }
                == SUCCESS
                && !name.is_null()
            {
                // SAFETY: a successful query returned a NUL-terminated string that lives as
                // long as `pd`, which is destroyed only below.
                unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
            } else {
                String::new()
            };
        let mut primitive: Handle = std::ptr::null_mut();
        // SAFETY: `pd` is valid; the primitive keeps what it needs of it.
        let made = check("dnnl_primitive_create", unsafe {
            (self.api.primitive_create)(&mut primitive, pd)
        });
        // SAFETY: `pd` was created above and is not used after this.
        unsafe { (self.api.pd_destroy)(pd) };
        made?;
        Ok((
            Matmul {
                primitive,
                src,
                weights,
                dst,
            },
            kernel,
        ))
    }

    /// The calling thread's stream, created on first use (and kept for the thread's life:
    /// training threads live as long as the process).
    fn stream(&self) -> Result<Handle, DnnlError> {
        let stream = STREAM.with(Cell::get);
        if !stream.is_null() {
            return Ok(stream);
        }
        let mut stream: Handle = std::ptr::null_mut();
        // SAFETY: `stream` is a valid out-pointer and the engine lives as long as `self`.
        check("dnnl_stream_create", unsafe {
            (self.api.stream_create)(&mut stream, self.engine, STREAM_IN_ORDER)
        })?;
        STREAM.with(|s| s.set(stream));
        Ok(stream)
    }

    /// `out[m, n] = a[m, k] · b`, where `b` is `[k, n]` row-major, or `[n, k]` row-major
    /// when `b_transposed`. `a` and `b` are bf16 bit patterns.
    pub fn matmul(
        &self,
        a: &[u16],
        b: &[u16],
        b_transposed: bool,
        out: &mut [f32],
        (m, k, n): (usize, usize, usize),
    ) -> Result<(), DnnlError> {
        let fits = m.checked_mul(k).is_some_and(|s| s <= a.len())
            && k.checked_mul(n).is_some_and(|s| s <= b.len())
            && m.checked_mul(n).is_some_and(|s| s <= out.len())
            && [m, k, n].iter().all(|&d| d > 0 && d < (1 << 40));
        if !fits {
            return Err(DnnlError::Shape { m, k, n });
        }
        let key = ((m, k, n, b_transposed), rayon::current_thread_index());
        let cached = self
            .matmuls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let op = match cached {
            Some(op) => op,
            None => {
                let op = Arc::new(self.compile(key.0)?.0);
                self.matmuls
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, op.clone());
                op
            }
        };
        let stream = self.stream()?;
        let mut memories: [Handle; 3] = [std::ptr::null_mut(); 3];
        let buffers = [
            (&*op.src, a.as_ptr() as *mut c_void),
            (&*op.weights, b.as_ptr() as *mut c_void),
            (&*op.dst, out.as_mut_ptr().cast::<c_void>()),
        ];
        let mut result = Ok(());
        for (slot, (desc, ptr)) in memories.iter_mut().zip(buffers) {
            // SAFETY: `desc` describes a buffer no larger than the one `ptr` points to
            // (checked above); the memory object only wraps the caller's buffer.
            result = check("dnnl_memory_create", unsafe {
                (self.api.memory_create)(slot, desc, self.engine, ptr)
            });
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            let args = [
                ExecArg {
                    arg: ARG_SRC,
                    memory: memories[0],
                },
                ExecArg {
                    arg: ARG_WEIGHTS,
                    memory: memories[1],
                },
                ExecArg {
                    arg: ARG_DST,
                    memory: memories[2],
                },
            ];
            // SAFETY: the primitive and the memories are valid and describe the buffers
            // borrowed for this call; `a` and `b` are only read (oneDNN's inputs).
            result = check("dnnl_primitive_execute", unsafe {
                (self.api.execute)(op.primitive, stream, 3, args.as_ptr())
            })
            // SAFETY: the stream is valid; waiting makes the result visible before return.
            .and_then(|()| check("dnnl_stream_wait", unsafe { (self.api.stream_wait)(stream) }));
        }
        for memory in memories.into_iter().filter(|m| !m.is_null()) {
            // SAFETY: created above, not used after this; the user buffer is not freed.
            unsafe { (self.api.memory_destroy)(memory) };
        }
        result
    }
}
