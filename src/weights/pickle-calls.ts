import { PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple, kindOf, type PickleValue } from './pickle-values.js';

/**
 * What a pickle may call (REDUCE) or instantiate (NEWOBJ) in the inert reader: the few callables a checkpoint needs,
 * whose effect is reproduced here as data, inert classes training scripts store beside the weights, and the
 * modules whose classes could run code, refused. Everything else is refused with `PickleError`.
 */

/** Modules whose classes could run code when a real unpickler made instances of them. */
const DANGEROUS_MODULES =
  /^(os|posix|nt|sys|subprocess|builtins|__builtin__|shutil|socket|importlib|io|pickle|_pickle|marshal|runpy|code|codeop|ctypes|types|functools|operator|webbrowser|pty|multiprocessing|threading|signal|asyncio|tempfile|pathlib|glob|platform|commands|popen2|eval|exec|compile|inspect|pdb|timeit|shelve|dbm|sqlite3|urllib|http|ftplib|smtplib|telnetlib|xmlrpc|zipimport|pkgutil|site|sysconfig|distutils|setuptools|pip|numpy\.(testing|distutils|f2py|ctypeslib)|torch\.(hub|utils\.cpp_extension|jit|_ops|ops|cuda|distributed|multiprocessing|backends|classes|package)|_?posixsubprocess)(\.|$)/;

/** True when a NEWOBJ of this class is allowed (an inert stand-in is made; no constructor runs anyway). */
export function instantiable(g: PyGlobal): boolean {
  if (g.module === 'builtins' || g.module === '__builtin__')
    return ['object', 'set', 'frozenset', 'dict', 'list', 'tuple', 'bytearray', 'slice', 'complex'].includes(g.name);
  return !DANGEROUS_MODULES.test(g.module) && /^[A-Za-z_][\w.]*$/.test(g.module) && /^[A-Za-z_]\w*$/.test(g.name);
}

/**
 * REDUCE: `fn(*args)` for an allowed callable, as data; `hook` is asked about any other (the caller's
 * tensor-rebuild functions) and returns undefined for one it does not know, which is refused.
 */
export function callAllowed(fn: PickleValue, args: PickleValue[], hook?: (fn: PyGlobal, args: PickleValue[]) => PickleValue | undefined): PickleValue {
  if (!(fn instanceof PyGlobal)) throw new PickleError(`the pickle calls a ${kindOf(fn)}; only named functions can be called`);
  const q = fn.qualified;
  switch (q) {
    case 'collections.OrderedDict':
    case 'collections.defaultdict':
    case 'builtins.dict':
    case '__builtin__.dict': {
      const d = new PyDict();
      // defaultdict(factory): the factory only matters for missing keys, which reading never asks for.
      const init = q === 'collections.defaultdict' ? undefined : args[0];
      if (args.length > 1) throw new PickleError(`${q} called with ${args.length} arguments`);
      if (init !== undefined) {
        const pairs = Array.isArray(init) ? init : init instanceof PyTuple ? init.items : null;
        if (!pairs) throw new PickleError(`${q} called with a ${kindOf(init)}`);
        for (const p of pairs) {
          const kv = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : null;
          if (!kv || kv.length !== 2) throw new PickleError(`${q} called with an item that is not a pair`);
          d.set(kv[0]!, kv[1]!);
        }
      }
      return d;
    }
    case 'builtins.set':
    case '__builtin__.set':
    case 'builtins.frozenset':
    case '__builtin__.frozenset': {
      const s = new PySet();
      const init = args[0];
      if (init !== undefined) {
        const items = Array.isArray(init) ? init : init instanceof PyTuple ? init.items : null;
        if (!items) throw new PickleError(`${q} called with a ${kindOf(init)}`);
        s.items.push(...items);
      }
      return s;
    }
    case '_codecs.encode': {
      // Protocol 2 writes bytes as _codecs.encode(str, 'latin1').
      const [text, encoding] = args;
      if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1'))
        throw new PickleError(`_codecs.encode called with other than (str, 'latin1')`);
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 255) throw new PickleError('_codecs.encode: a character outside latin1');
        out[i] = c;
      }
      return out;
    }
    case 'numpy.dtype':
    case 'numpy.core.multiarray.scalar':
    case 'numpy._core.multiarray.scalar':
    case 'numpy.core.multiarray._reconstruct':
    case 'numpy._core.multiarray._reconstruct':
    case 'numpy.core.numeric._frombuffer':
    case 'numpy._core.numeric._frombuffer':
    case 'builtins.slice':
    case 'builtins.complex':
    case 'torch.device':
    case 'torch.Size':
    case 'argparse.Namespace':
    case 'types.SimpleNamespace':
    // ultralytics' training arguments (model.args, criterion.hyp) while a run is unfinished
    case 'ultralytics.utils.IterableSimpleNamespace':
    case 'ultralytics.yolo.utils.IterableSimpleNamespace':
    case 'pathlib.PosixPath':
    case 'pathlib.WindowsPath':
    case 'datetime.datetime':
    case 'datetime.date':
    case 'datetime.timedelta':
      // Inert values that training scripts store beside the weights (best_fitness, opt, dates, paths).
      return new PyObject(fn, args);
  }
  const hooked = hook?.(fn, args);
  if (hooked !== undefined) return hooked;
  throw new PickleError(`the pickle calls ${q}, which is not a tensor-rebuild function or a known inert class; refusing to load it`);
}
