/* vmlab-lackey: a valgrind tool that records every instruction fetch, load, store and modify of the client in the
   text format of Lackey's --trace-mem=yes ("I  addr,size", " L addr,size", " S addr,size", " M addr,size"), record
   for record the same as stock Lackey, but formats the records itself into a 1 MiB buffer that is written to
   valgrind's log with one write(2) per MiB instead of one per record.

   Events are collected per superblock exactly as Lackey collects them: an instruction mark becomes an 'I' event,
   a load a read, a store a write; a write of the same size to the same address expression directly after an
   unguarded read is merged into a modify; CAS is a read then a write; dirty helpers that touch memory are reads,
   writes or both (merged to a modify); guarded loads/stores are recorded only when the guard holds; pending
   events are flushed (turned into helper calls) when four are queued, before every side exit and at the end of
   the superblock, so records come out in the order the instructions run.

   The buffer is also written before a fork (so a child does not repeat it), before an execve (a child that leaves
   valgrind never reaches the tool's exit) and at exit.

   Built by `vmlab trace record` on first use against the installed valgrind's libcoregrind/libvex. */

#include "pub_tool_basics.h"
#include "pub_tool_tooliface.h"
#include "pub_tool_libcassert.h"
#include "pub_tool_libcbase.h"
#include "pub_tool_libcprint.h"
#include "pub_tool_libcfile.h"
#include "pub_tool_libcproc.h"
#include "pub_tool_machine.h"
#include "pub_tool_options.h"
#include "pub_tool_vki.h"
#include "pub_tool_vkiscnums.h"

/* The core's log sink; its first member is the file descriptor the log (--log-file/--log-fd) goes to. */
extern struct { Int fd; } VG_(log_output_sink);

#define OUT_SIZE (1 << 20)
#define OUT_RESERVE 64 /* the longest record: 1 + 1 + 1 + 16 hex + 1 + 20 decimal + 1 < 64 */

static HChar out_buf[OUT_SIZE];
static Int out_used = 0;

static void out_flush(void)
{
   Int fd = VG_(log_output_sink).fd;
   Int done = 0;
   if (fd < 0) { out_used = 0; return; }
   while (done < out_used) {
      Int n = VG_(write)(fd, out_buf + done, out_used - done);
      if (n <= 0) break; /* the reader went away: drop the rest, as the core does for its own log */
      done += n;
   }
   out_used = 0;
}

static const HChar hex_digits[16] = "0123456789abcdef";

/* Appends "<k0><k1><k2><addr as %08lx>,<size as %lu>\n". */
static inline void out_record(HChar k0, HChar k1, HChar k2, Addr addr, SizeT size)
{
   HChar* p;
   HChar tmp[24];
   Int n, i;
   if (out_used > OUT_SIZE - OUT_RESERVE) out_flush();
   p = out_buf + out_used;
   *p++ = k0; *p++ = k1; *p++ = k2;
   n = 0;
   do { tmp[n++] = hex_digits[addr & 0xf]; addr >>= 4; } while (addr != 0);
   for (i = n; i < 8; i++) *p++ = '0';
   while (n > 0) *p++ = tmp[--n];
   *p++ = ',';
   n = 0;
   do { tmp[n++] = (HChar)('0' + size % 10); size /= 10; } while (size != 0);
   while (n > 0) *p++ = tmp[--n];
   *p++ = '\n';
   out_used = (Int)(p - out_buf);
}

static VG_REGPARM(2) void vl_trace_instr(Addr addr, SizeT size)  { out_record('I', ' ', ' ', addr, size); }
static VG_REGPARM(2) void vl_trace_load(Addr addr, SizeT size)   { out_record(' ', 'L', ' ', addr, size); }
static VG_REGPARM(2) void vl_trace_store(Addr addr, SizeT size)  { out_record(' ', 'S', ' ', addr, size); }
static VG_REGPARM(2) void vl_trace_modify(Addr addr, SizeT size) { out_record(' ', 'M', ' ', addr, size); }

/* ---- event queue, per superblock ---- */

typedef enum { EvInstr, EvRead, EvWrite, EvModify } EvKind;

typedef struct {
   EvKind kind;
   IRExpr* addr;
   Int size;
   IRExpr* guard; /* NULL: always */
} Ev;

#define MAX_EVENTS 4
#define MAX_DATA_SIZE 512

static Ev events[MAX_EVENTS];
static Int n_events = 0;

static void flush_events(IRSB* sb)
{
   Int i;
   for (i = 0; i < n_events; i++) {
      const Ev* ev = &events[i];
      const HChar* name;
      void* fn;
      IRDirty* di;
      switch (ev->kind) {
         case EvInstr:  name = "vl_trace_instr";  fn = vl_trace_instr;  break;
         case EvRead:   name = "vl_trace_load";   fn = vl_trace_load;   break;
         case EvWrite:  name = "vl_trace_store";  fn = vl_trace_store;  break;
         case EvModify: name = "vl_trace_modify"; fn = vl_trace_modify; break;
         default: tl_assert(0);
      }
      di = unsafeIRDirty_0_N(2, name, VG_(fnptr_to_fnentry)(fn),
                             mkIRExprVec_2(ev->addr, mkIRExpr_HWord((HWord)ev->size)));
      if (ev->guard) di->guard = ev->guard;
      addStmtToIRSB(sb, IRStmt_Dirty(di));
   }
   n_events = 0;
}

static void push_event(IRSB* sb, EvKind kind, IRExpr* addr, Int size, IRExpr* guard)
{
   if (n_events == MAX_EVENTS) flush_events(sb);
   events[n_events].kind = kind;
   events[n_events].addr = addr;
   events[n_events].size = size;
   events[n_events].guard = guard;
   n_events++;
}

static void add_instr(IRSB* sb, IRExpr* iaddr, UInt isize)
{
   tl_assert((VG_MIN_INSTR_SZB <= isize && isize <= VG_MAX_INSTR_SZB) || isize == VG_CLREQ_SZB);
   push_event(sb, EvInstr, iaddr, (Int)isize, NULL);
}

static void add_read(IRSB* sb, IRExpr* daddr, Int dsize, IRExpr* guard)
{
   tl_assert(isIRAtom(daddr));
   tl_assert(dsize >= 1 && dsize <= MAX_DATA_SIZE);
   push_event(sb, EvRead, daddr, dsize, guard);
}

static void add_write(IRSB* sb, IRExpr* daddr, Int dsize, IRExpr* guard)
{
   tl_assert(isIRAtom(daddr));
   tl_assert(dsize >= 1 && dsize <= MAX_DATA_SIZE);
   if (guard == NULL && n_events > 0) {
      Ev* last = &events[n_events - 1];
      if (last->kind == EvRead && last->size == dsize && last->guard == NULL && eqIRAtom(last->addr, daddr)) {
         last->kind = EvModify;
         return;
      }
   }
   push_event(sb, EvWrite, daddr, dsize, guard);
}

/* ---- tool interface ---- */

static void vl_post_clo_init(void) { }

/* Lackey's options that describe what this tool always does are accepted, so a Lackey command line runs unchanged;
   any other value is refused. */
static Bool vl_process_cmd_line_option(const HChar* arg)
{
   if (VG_(strcmp)(arg, "--trace-mem=yes") == 0) return True;
   if (VG_(strcmp)(arg, "--basic-counts=no") == 0) return True;
   return False;
}

static void vl_print_usage(void)
{
   VG_(printf)("    --trace-mem=yes           accepted for Lackey compatibility (always on)\n"
               "    --basic-counts=no         accepted for Lackey compatibility (always off)\n");
}

static void vl_print_debug_usage(void)
{
   VG_(printf)("    (none)\n");
}

static void vl_flush_at_fork(ThreadId tid) { (void)tid; out_flush(); }

/* An exec that leaves valgrind (a child not traced) does not reach vl_fini: what is buffered goes out before it. */
static void vl_pre_syscall(ThreadId tid, UInt syscallno, UWord* args, UInt nArgs)
{
   (void)tid; (void)args; (void)nArgs;
   if (syscallno == __NR_execve || syscallno == __NR_execveat) out_flush();
}

static void vl_post_syscall(ThreadId tid, UInt syscallno, UWord* args, UInt nArgs, SysRes res)
{
   (void)tid; (void)syscallno; (void)args; (void)nArgs; (void)res;
}

static IRSB* vl_instrument(VgCallbackClosure* closure, IRSB* sbIn, const VexGuestLayout* layout,
                           const VexGuestExtents* vge, const VexArchInfo* archinfo_host,
                           IRType gWordTy, IRType hWordTy)
{
   IRSB* sbOut;
   IRTypeEnv* tyenv = sbIn->tyenv;
   Int i;
   (void)closure; (void)layout; (void)vge; (void)archinfo_host;

   if (gWordTy != hWordTy) VG_(tool_panic)("host/guest word size mismatch");

   sbOut = deepCopyIRSBExceptStmts(sbIn);

   /* the preamble before the first instruction mark is copied as is */
   i = 0;
   while (i < sbIn->stmts_used && sbIn->stmts[i]->tag != Ist_IMark) {
      addStmtToIRSB(sbOut, sbIn->stmts[i]);
      i++;
   }
   n_events = 0;

   for (; i < sbIn->stmts_used; i++) {
      IRStmt* st = sbIn->stmts[i];
      if (!st || st->tag == Ist_NoOp) continue;

      switch (st->tag) {
         case Ist_AbiHint:
         case Ist_Put:
         case Ist_PutI:
         case Ist_MBE:
            break;
         case Ist_IMark:
            add_instr(sbOut, mkIRExpr_HWord((HWord)st->Ist.IMark.addr), st->Ist.IMark.len);
            break;
         case Ist_WrTmp: {
            IRExpr* data = st->Ist.WrTmp.data;
            if (data->tag == Iex_Load)
               add_read(sbOut, data->Iex.Load.addr, sizeofIRType(data->Iex.Load.ty), NULL);
            break;
         }
         case Ist_Store: {
            IRType type = typeOfIRExpr(tyenv, st->Ist.Store.data);
            tl_assert(type != Ity_INVALID);
            add_write(sbOut, st->Ist.Store.addr, sizeofIRType(type), NULL);
            break;
         }
         case Ist_StoreG: {
            IRStoreG* sg = st->Ist.StoreG.details;
            IRType type = typeOfIRExpr(tyenv, sg->data);
            tl_assert(type != Ity_INVALID);
            add_write(sbOut, sg->addr, sizeofIRType(type), sg->guard);
            break;
         }
         case Ist_LoadG: {
            IRLoadG* lg = st->Ist.LoadG.details;
            IRType type = Ity_INVALID, wide = Ity_INVALID;
            typeOfIRLoadGOp(lg->cvt, &wide, &type);
            tl_assert(type != Ity_INVALID);
            add_read(sbOut, lg->addr, sizeofIRType(type), lg->guard);
            break;
         }
         case Ist_Dirty: {
            IRDirty* d = st->Ist.Dirty.details;
            if (d->mFx != Ifx_None) {
               tl_assert(d->mAddr != NULL);
               tl_assert(d->mSize != 0);
               if (d->mFx == Ifx_Read || d->mFx == Ifx_Modify) add_read(sbOut, d->mAddr, d->mSize, NULL);
               if (d->mFx == Ifx_Write || d->mFx == Ifx_Modify) add_write(sbOut, d->mAddr, d->mSize, NULL);
            } else {
               tl_assert(d->mAddr == NULL);
               tl_assert(d->mSize == 0);
            }
            break;
         }
         case Ist_CAS: {
            IRCAS* cas = st->Ist.CAS.details;
            Int size;
            tl_assert(cas->addr != NULL);
            tl_assert(cas->dataLo != NULL);
            size = sizeofIRType(typeOfIRExpr(tyenv, cas->dataLo));
            if (cas->dataHi != NULL) size *= 2; /* double-word CAS */
            add_read(sbOut, cas->addr, size, NULL);
            add_write(sbOut, cas->addr, size, NULL);
            break;
         }
         case Ist_LLSC: {
            if (st->Ist.LLSC.storedata == NULL) {
               add_read(sbOut, st->Ist.LLSC.addr, sizeofIRType(typeOfIRTemp(tyenv, st->Ist.LLSC.result)), NULL);
               flush_events(sbOut); /* flushing before the load-linked helps the store-conditional succeed */
            } else {
               add_write(sbOut, st->Ist.LLSC.addr, sizeofIRType(typeOfIRExpr(tyenv, st->Ist.LLSC.storedata)), NULL);
            }
            break;
         }
         case Ist_Exit:
            flush_events(sbOut);
            break;
         default:
            ppIRStmt(st);
            tl_assert(0);
      }
      addStmtToIRSB(sbOut, st);
   }

   flush_events(sbOut);
   return sbOut;
}

static void vl_fini(Int exitcode)
{
   (void)exitcode;
   out_flush();
}

static void vl_pre_clo_init(void)
{
   VG_(details_name)("vmlab-lackey");
   VG_(details_version)(NULL);
   VG_(details_description)("a buffered memory access tracer in Lackey's --trace-mem format");
   VG_(details_copyright_author)("VmLab");
   VG_(details_bug_reports_to)("the VmLab issue tracker");
   VG_(details_avg_translation_sizeB)(200);

   VG_(basic_tool_funcs)(vl_post_clo_init, vl_instrument, vl_fini);
   VG_(needs_command_line_options)(vl_process_cmd_line_option, vl_print_usage, vl_print_debug_usage);
   VG_(atfork)(vl_flush_at_fork, NULL, NULL);
   VG_(needs_syscall_wrapper)(vl_pre_syscall, vl_post_syscall);
}

VG_DETERMINE_INTERFACE_VERSION(vl_pre_clo_init)
