// SideBySide: Mlx.Managed (our Mx ops) and TorchSharp-cpu 0.107.0 timed in ONE process on the same inputs.
// Usage: dotnet run -c Release --project perf/SideBySide [-- b1 b5 ...] [--reps N] [--warm-ms MS] [--quiet-wait S]
//        [--retries R] [--ext-limit CORES] [--torch-threads T]
// Rows: peak mem b1 b2 b3 b4 b5 b6 b7 b8 (default: all). peak and mem always run when a goal needs them (b1, b2).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Mlx;
using Mlx.Nn;
using Mlx.Optimizers;
using TorchSharp;
using static TorchSharp.torch;
using TP = System.Numerics.Tensors.TensorPrimitives;
using NnF = Mlx.Nn.Nn;

static class Program
{
    // ---------------------------------------------------------------- settings and bookkeeping
    static int Reps = 7;
    static double WarmMs = 600;
    static double JitQuietMs = 300, JitWaitMaxMs = 10000;
    static double QuietWaitS = 10;
    static double TargetMs = 25;

    sealed record Stat(string Row, string Impl, double Ms, double MinMs, double MaxMs, int Inner, string Rate, double Ext, double Steal);
    static readonly List<Stat> All = new();

    sealed record Line(string Row, string Case, Stat Ours, Stat Theirs, string Goal, string Met, string Note);
    static readonly List<Line> Table = new();

    static double PeakGflops = double.NaN, CopyGBs = double.NaN;

    static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    // /proc/stat: busy ticks, total ticks, steal ticks (time the hypervisor gave our vCPUs to someone else);
    // /proc/self/stat: our utime+stime. Lets us report CPU used by other processes, and steal.
    static (long busy, long total, long steal, long self) Snap()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
        long total = f.Sum(), idle = f[3] + f[4];
        var st = File.ReadAllText("/proc/self/stat");
        var g = st[(st.LastIndexOf(')') + 2)..].Split(' ');
        return (total - idle - f[7], total, f[7], long.Parse(g[11]) + long.Parse(g[12]));
    }

    /// <summary>Cores used by other processes between two snapshots.</summary>
    static double Ext((long busy, long total, long steal, long self) a, (long busy, long total, long steal, long self) b)
    {
        double dt = Math.Max(1, b.total - a.total);
        return Math.Max(0, (b.busy - a.busy) - (b.self - a.self)) / dt * Environment.ProcessorCount;
    }

    /// <summary>Cores' worth of steal between two snapshots.</summary>
    static double Steal((long busy, long total, long steal, long self) a, (long busy, long total, long steal, long self) b) =>
        (b.steal - a.steal) / Math.Max(1.0, b.total - a.total) * Environment.ProcessorCount;

    static void WaitQuiet()
    {
        if (QuietWaitS <= 0) return;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < QuietWaitS)
        {
            var a = Snap();
            Thread.Sleep(300);
            var b = Snap();
            if (Ext(a, b) + Steal(a, b) < 0.2) return;
        }
    }

    sealed record Impl(string Name, Action Act, Func<double, string> Rate);

    static Impl I(string name, Action act, Func<double, string> rate) => new(name, act, rate);

    static int Retries = 2;
    static string[] Only = Array.Empty<string>(); // X3: run only the cases whose names contain one of these
    static int SettleMs = 0;
    static double PrerollMs = 10;
    static double ExtLimit = 0.3;

    /// <summary>
    /// Times the implementations of one row side by side. Each is warmed up (>= warmCalls calls and >= WarmMs, then
    /// until the JIT has compiled nothing new for JitQuietMs: a training step's hundreds of methods keep the tiered
    /// JIT's background thread busy for seconds, and on 2 cores that thread takes a core from the timed calls) and gets an inner loop calibrated so that one repetition lasts >= TargetMs; then
    /// the Reps repetitions are interleaved (ours, theirs, ours, theirs, ... with the order rotated each round), so
    /// that noise from other processes falls on all of them alike. When other processes used more than ExtLimit
    /// cores during the repetitions, the row is re-run (up to Retries times) and the quietest attempt is kept.
    /// Returns, per implementation, the median (and min/max) ms per call.
    /// </summary>
    static Stat[] Bench(string row, int warmCalls, params Impl[] impls)
    {
        Stat[] best = null;
        double bestExt = double.PositiveInfinity;
        for (int attempt = 0; attempt <= Retries; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            WaitQuiet();
            var sw = new Stopwatch();
            var inner = new int[impls.Length];
            var JitWarmMs = new double[impls.Length];
            for (int j = 0; j < impls.Length; j++)
            {
                sw.Restart();
                for (int i = 0; i < warmCalls || sw.Elapsed.TotalMilliseconds < WarmMs; i++) impls[j].Act();
                long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
                var quiet = Stopwatch.StartNew();
                while (quiet.Elapsed.TotalMilliseconds < JitQuietMs && sw.Elapsed.TotalMilliseconds < JitWaitMaxMs)
                {
                    impls[j].Act();
                    long now = System.Runtime.JitInfo.GetCompiledMethodCount();
                    if (now != compiled)
                    {
                        compiled = now;
                        quiet.Restart();
                    }
                }
                JitWarmMs[j] = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                impls[j].Act();
                inner[j] = Math.Max(1, (int)Math.Ceiling(TargetMs / Math.Max(sw.Elapsed.TotalMilliseconds, 1e-6)));
            }
            var t = new double[impls.Length][];
            for (int j = 0; j < impls.Length; j++) t[j] = new double[Reps];
            var s0 = Snap();
            for (int r = 0; r < Reps; r++)
            {
                for (int jj = 0; jj < impls.Length; jj++)
                {
                    int j = (jj + r) % impls.Length;
                    if (impls.Length > 1 && SettleMs > 0)
                    {
                        // Let the previous implementation's idle threads stop spinning (libgomp's and ours spin
                        // for a few ms after each parallel region) so that they do not take cores from this one.
                        // Busy, not asleep: this thread's core stays awake, as it would in a loop of work.
                        var settle = Stopwatch.StartNew();
                        while (settle.Elapsed.TotalMilliseconds < SettleMs)
                        {
                            Thread.SpinWait(100);
                        }
                    }
                    if (impls.Length > 1 && PrerollMs > 0)
                    {
                        // Untimed calls first: meanwhile the previous implementation's idle threads stop spinning
                        // (libgomp's and ours do for a few ms after each parallel region; on 2 cores a spinning
                        // thread takes a core from the calls being timed), and this one's own threads are awake.
                        sw.Restart();
                        do impls[j].Act(); while (sw.Elapsed.TotalMilliseconds < PrerollMs);
                    }
                    sw.Restart();
                    for (int i = 0; i < inner[j]; i++) impls[j].Act();
                    t[j][r] = sw.Elapsed.TotalMilliseconds / inner[j];
                }
            }
            var s1 = Snap();
            double ext = Ext(s0, s1), steal = Steal(s0, s1);
            var stats = new Stat[impls.Length];
            for (int j = 0; j < impls.Length; j++)
            {
                Array.Sort(t[j]);
                double med = t[j][Reps / 2];
                stats[j] = new Stat(row, impls[j].Name, med, t[j][0], t[j][^1], inner[j], impls[j].Rate(med), ext, steal);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{row,-22} {impls[j].Name,-40} {med,10:F3} ms  {stats[j].Rate,-30} (min {t[j][0]:F3}, max {t[j][^1]:F3}, inner {inner[j]}, reps {Reps}, warm {JitWarmMs[j]:F0} ms, other-procs {ext:F2} cores, steal {steal:F2}, load1 {Load()}, attempt {attempt + 1})"));
            }
            if (ext + steal < bestExt)
            {
                bestExt = ext + steal;
                best = stats;
            }
            if (ext + steal <= ExtLimit) break;
        }
        All.AddRange(best);
        return best;
    }

    static Stat Bench(string row, string impl, Action act, Func<double, string> rate, int warmCalls = 3) =>
        Bench(row, warmCalls, I(impl, act, rate))[0];

    static Func<double, string> Gflops(double flop) => ms => string.Create(CultureInfo.InvariantCulture, $"{flop / (ms * 1e6):F1} GFLOP/s");
    static Func<double, string> GBs(double bytes) => ms => string.Create(CultureInfo.InvariantCulture, $"{bytes / (ms * 1e6):F1} GB/s");
    static Func<double, string> Us(double ops) => ms => string.Create(CultureInfo.InvariantCulture, $"{ms * 1000 / ops:F2} us/op");

    static void Add(string row, string @case, Stat ours, Stat theirs, string goal, bool? met, string note = "") =>
        Table.Add(new Line(row, @case, ours, theirs, goal, met is null ? "n/a" : met.Value ? "yes" : "**no**", note));

    static string F(double x, string fmt = "F2") => x.ToString(fmt, CultureInfo.InvariantCulture);

    static float[] Rand(long n, int seed, bool normal = false)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++)
        {
            if (!normal) x[i] = r.NextSingle();
            else
            {
                double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
                x[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
        }
        return x;
    }

    static MxArray Ours(float[] data, params int[] shape)
    {
        var a = Mx.Array(data, shape);
        Mx.Eval(a);
        return a;
    }

    static Tensor Theirs(float[] data, params long[] shape) => torch.tensor(data, shape);

    /// <summary>Largest |a-b| / (1 + |b|) over all elements: a correctness check of ours against torch.</summary>
    static double MaxErr(float[] a, float[] b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]) / (1 + Math.Abs((double)b[i])));
        return m;
    }

    static void Check(string row, float[] ours, float[] theirs, double tol = 1e-3)
    {
        double e = MaxErr(ours, theirs);
        Console.WriteLine($"# {row}: max |ours - torch| / (1 + |torch|) = {e:E2}{(e > tol ? "  <-- MISMATCH" : "")}");
    }

    static bool Want(string[] args, string k) => args.Length == 0 || args.Contains(k);

    static void Main(string[] rawArgs)
    {
        var args = new List<string>();
        int torchThreads = -1;
        for (int i = 0; i < rawArgs.Length; i++)
        {
            switch (rawArgs[i])
            {
                case "--reps": Reps = int.Parse(rawArgs[++i]); break;
                case "--warm-ms": WarmMs = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--jit-quiet-ms": JitQuietMs = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--quiet-wait": QuietWaitS = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--torch-threads": torchThreads = int.Parse(rawArgs[++i]); break;
                case "--retries": Retries = int.Parse(rawArgs[++i]); break;
                case "--settle-ms": SettleMs = int.Parse(rawArgs[++i]); break;
                case "--rep-ms": TargetMs = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--preroll-ms": PrerollMs = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--only": Only = rawArgs[++i].Split(','); break;
                case "--ext-limit": ExtLimit = double.Parse(rawArgs[++i], CultureInfo.InvariantCulture); break;
                case "--": break;
                default: args.Add(rawArgs[i].ToLowerInvariant()); break;
            }
        }
        var a = args.ToArray();
        if (Reps < 1) Reps = 1;

        Console.WriteLine($"# SideBySide {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; .NET {Environment.Version}, {RuntimeInformation.OSDescription}, cores={Environment.ProcessorCount}, " +
                          $"V512={Vector512.IsHardwareAccelerated}, V256={Vector256.IsHardwareAccelerated}, load1={Load()}");
        var sw = Stopwatch.StartNew();
        using (var t0 = torch.ones(4, 4)) { }
        Console.WriteLine($"# TorchSharp loaded in {sw.Elapsed.TotalMilliseconds:F0} ms; libtorch {torch.__version__}");
        if (torchThreads > 0) torch.set_num_threads(torchThreads);
        Console.WriteLine($"# torch threads {torch.get_num_threads()}, ours Mlx.Kernels.Parallelism.MaxThreads {Mlx.Kernels.Parallelism.MaxThreads} (spin {Mlx.Kernels.Parallelism.SpinMicroseconds} us); reps {Reps}, warm-up >= {WarmMs} ms and until the JIT is quiet for {JitQuietMs} ms (<= {JitWaitMaxMs} ms), rep >= {TargetMs} ms, settle {SettleMs} ms, preroll {PrerollMs} ms, quiet-wait <= {QuietWaitS} s");
        Console.WriteLine($"# MLX_PROFILE={Environment.GetEnvironmentVariable("MLX_PROFILE") ?? "(unset)"}");
        torch.manual_seed(0);
        Mx.Random.Seed(0);

        if (Want(a, "peak") || Want(a, "b1")) Peak();
        if (Want(a, "mem") || Want(a, "b2")) Mem();
        if (Want(a, "b1")) B1();
        if (Want(a, "b2")) B2();
        if (Want(a, "b3")) B3();
        if (Want(a, "b4")) B4();
        if (Want(a, "b5")) B5();
        if (Want(a, "b6")) B6();
        if (Want(a, "b7")) B7();
        if (Want(a, "b8")) B8();
        if (Want(a, "x1")) X1();
        if (Want(a, "x2")) X2();
        if (Want(a, "x3")) X3();
        if (Want(a, "x4")) X4();
        if (Want(a, "x6")) X6();

        Console.WriteLine();
        Console.WriteLine($"## Summary ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load1 {Load()})");
        if (!double.IsNaN(PeakGflops)) Console.WriteLine($"Machine: fp32 FMA peak {F(PeakGflops, "F1")} GFLOP/s (all cores, best rep), copy bandwidth {F(CopyGBs, "F1")} GB/s (read+write, best rep of 1 thread / all threads).");
        Console.WriteLine();
        Console.WriteLine("| Row | Case | Ours ms | Ours rate | TorchSharp ms | TorchSharp rate | ours/theirs (time) | Goal | Met |");
        Console.WriteLine("|---|---|---:|---|---:|---|---:|---|---|");
        foreach (var l in Table)
        {
            string ratio = l.Theirs is null ? "" : F(l.Ours.Ms / l.Theirs.Ms);
            Console.WriteLine($"| {l.Row} | {l.Case} | {F(l.Ours.Ms, "F3")} | {l.Ours.Rate} | {(l.Theirs is null ? "" : F(l.Theirs.Ms, "F3"))} | {l.Theirs?.Rate ?? ""} ({l.Theirs?.Impl ?? ""}) | {ratio} | {l.Goal} | {l.Met}{(l.Note.Length > 0 ? " — " + l.Note : "")} |");
        }
        Console.WriteLine();
        Console.WriteLine("## All measurements (median ms per call; other-procs = cores used by other processes during the reps, steal = cores taken by the hypervisor)");
        foreach (var s in All)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Row,-22} {s.Impl,-40} {s.Ms,10:F3}  {s.Rate,-30} min {s.MinMs:F3} max {s.MaxMs:F3} other-procs {s.Ext:F2} steal {s.Steal:F2}"));
    }

    // ---------------------------------------------------------------- machine: FMA peak and copy bandwidth
    [MethodImpl(MethodImplOptions.NoInlining)]
    static float Fma512(long iters)
    {
        var m = Vector512.Create(0.9999999f); var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static float Fma256(long iters)
    {
        var m = Vector256.Create(0.9999999f); var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    static void Peak()
    {
        bool v512 = Vector512.IsHardwareAccelerated;
        int lanes = v512 ? 16 : 8;
        const long iters = 2_000_000;
        double flopPerThread = iters * 12.0 * lanes * 2;
        int n = Environment.ProcessorCount;
        float sink = 0;
        Func<long, float> loop = v512 ? Fma512 : Fma256;
        string w = v512 ? "Vector512" : "Vector256";
        Bench("peak.fma", $"C# {w} FMA 12 acc, 1 thread", () => sink += loop(iters), Gflops(flopPerThread));
        var s = Bench("peak.fma", $"C# {w} FMA 12 acc, {n} threads", () =>
        {
            var r = new float[n];
            Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = n }, t => r[t] = loop(iters));
            sink += r.Sum();
        }, Gflops(n * flopPerThread));
        PeakGflops = n * flopPerThread / (s.MinMs * 1e6); // a ceiling: best repetition, not the median
        if (sink == 42) Console.WriteLine(sink);
    }

    static unsafe void Mem()
    {
        long n = 256L << 20;
        var src = (byte*)NativeMemory.AlignedAlloc((nuint)n, 4096);
        var dst = (byte*)NativeMemory.AlignedAlloc((nuint)n, 4096);
        new Span<byte>(src, (int)n).Fill(1);
        new Span<byte>(dst, (int)n).Fill(2);
        int th = Environment.ProcessorCount;
        var s1 = Bench("mem.copy.256MiB", "Span.CopyTo 1 thread (rd+wr)", () => new ReadOnlySpan<byte>(src, (int)n).CopyTo(new Span<byte>(dst, (int)n)), GBs(2.0 * n));
        var s2 = Bench("mem.copy.256MiB", $"Span.CopyTo {th} threads (rd+wr)", () =>
            Parallel.For(0, th, new ParallelOptions { MaxDegreeOfParallelism = th }, t =>
            {
                long h = n / th;
                new ReadOnlySpan<byte>(src + t * h, (int)h).CopyTo(new Span<byte>(dst + t * h, (int)h));
            }), GBs(2.0 * n));
        CopyGBs = 2.0 * n / (Math.Min(s1.MinMs, s2.MinMs) * 1e6); // a ceiling: best repetition
        NativeMemory.AlignedFree(src);
        NativeMemory.AlignedFree(dst);
    }

    // ---------------------------------------------------------------- B1 matmul
    static void B1()
    {
        foreach (int N in new[] { 256, 1024, 2048 })
        {
            double flop = 2.0 * N * N * N;
            string row = $"B1 matmul N={N}";
            var da = Rand((long)N * N, 11); var db = Rand((long)N * N, 12);
            var a = Ours(da, N, N); var b = Ours(db, N, N);
            using var ta = Theirs(da, N, N); using var tb = Theirs(db, N, N);
            using (var tc = torch.matmul(ta, tb)) Check(row, Mx.Matmul(a, b).ToArray<float>(), tc.data<float>().ToArray());
            var s = Bench(row, N >= 2048 ? 2 : 3,
                I("Mx.Matmul + Mx.Eval", () => Mx.Eval(Mx.Matmul(a, b)), Gflops(flop)),
                I("torch.matmul", () => { using var c = torch.matmul(ta, tb); }, Gflops(flop)));
            double g = flop / (s[0].Ms * 1e6), share = g / PeakGflops, tg = flop / (s[1].Ms * 1e6);
            string note = $"ours {F(100 * share, "F0")}% of peak, torch {F(100 * tg / PeakGflops, "F0")}%";
            if (N >= 1024) Add("B1", $"matmul fp32 N={N}", s[0], s[1], "ours >= 85% of FMA peak", share >= 0.85, note);
            else Add("B1", $"matmul fp32 N={N}", s[0], s[1], "(no goal at N=256)", null, note);
        }
    }

    // ---------------------------------------------------------------- X1 matrix-vector products (no goal in issue 6)
    // One token through a 4096 x 4096 weight stored (out, in), as inference does it: x W^T, in float32, float16 and
    // bfloat16. The weight (64 / 32 MB) does not fit the cache, so this is a pass over memory.
    static void X1()
    {
        const int N = 4096;
        var dx = Rand(N, 91); var dw = Rand((long)N * N, 92, true);
        foreach (var (dt, tdt) in new[] { (DType.Float32, torch.float32), (DType.Float16, torch.float16), (DType.BFloat16, torch.bfloat16) })
        {
            string row = $"X1 x W^T {dt.Name()}";
            var x = Mx.AsType(Ours(dx, 1, N), dt); var w = Mx.AsType(Ours(dw, N, N), dt);
            Mx.Eval(x, w);
            using var tx0 = Theirs(dx, 1, N); using var tw0 = Theirs(dw, N, N);
            using var tx = tx0.to_type(tdt); using var tw = tw0.to_type(tdt);
            using (var r = torch.matmul(tx, tw.t()).to_type(torch.float32))
                Check(row, Mx.Matmul(x, Mx.Transpose(w)).AsType(DType.Float32).ToArray<float>(), r.data<float>().ToArray(), dt == DType.Float32 ? 1e-4 : 3e-2);
            double bytes = (double)N * N * dt.Size();
            var st = Bench(row, 3,
                I("Mx.Matmul(x, Mx.Transpose(w)) + Eval", () => Mx.Eval(Mx.Matmul(x, Mx.Transpose(w))), GBs(bytes)),
                I("torch.matmul(x, w.t())", () => { using var r = torch.matmul(tx, tw.t()); }, GBs(bytes)));
            Add("X1", $"1 x {N} times a {N}x{N} weight's transpose, {dt.Name()}", st[0], st[1], "(no goal: weight bytes / time)", null, $"{F(st[1].Ms / st[0].Ms)}x torch");
        }
    }

    // ---------------------------------------------------------------- X4 quantized weights (no goal in issue 6)
    // The X1 product with the weight quantized as MLX does (groups of 64, 4 and 8 bits; Mx.QuantizedMatmul reads the
    // packed codes): 8 and 4.5 bits a weight instead of 16 or 32. TorchSharp has no CPU product over packed low-bit
    // weights, so its peer is what a TorchSharp user runs: the bfloat16 and float32 products. Also 32 rows (a short
    // prompt), where ours dequantizes blocks of the weight and runs GEMM.
    static void X4()
    {
        const int N = 4096;
        var dw = Rand((long)N * N, 92, true);
        var w = Ours(dw, N, N);
        using var tw32 = Theirs(dw, N, N);
        using var tw16 = tw32.to_type(torch.bfloat16);
        foreach (int rows in new[] { 1, 32 })
        {
            var dx = Rand((long)rows * N, 91);
            var x = Ours(dx, rows, N);
            using var tx32 = Theirs(dx, rows, N);
            using var tx16 = tx32.to_type(torch.bfloat16);
            foreach (int bits in new[] { 4, 8 })
            {
                var (q, sc, bi) = Mx.Quantize(w, 64, bits);
                Mx.Eval(x, q, sc, bi!);
                string row = $"X4 {rows}x{N} @ q{bits}";
                var dense = Mx.Dequantize(q, sc, bi, 64, bits);
                using (var tdense = torch.tensor(dense.ToArray<float>(), new long[] { N, N }))
                using (var r = torch.matmul(tx32, tdense.t()))
                    Check(row, Mx.QuantizedMatmul(x, q, sc, bi, true, 64, bits).ToArray<float>(), r.data<float>().ToArray(), 1e-3);
                double bytes = (double)N * N * bits / 8 + (double)N * N / 64 * 8;
                var st = Bench(row, 3,
                    I($"Mx.QuantizedMatmul {bits}-bit + Eval", () => Mx.Eval(Mx.QuantizedMatmul(x, q, sc, bi, true, 64, bits)), GBs(bytes)),
                    I("torch.matmul(x, w.t()) bfloat16", () => { using var r = torch.matmul(tx16, tw16.t()); }, GBs((double)N * N * 2)),
                    I("torch.matmul(x, w.t()) float32", () => { using var r = torch.matmul(tx32, tw32.t()); }, GBs((double)N * N * 4)));
                Add("X4", $"{rows} x {N} times a {N}x{N} weight's transpose, {bits}-bit (groups of 64)", st[0], st[1], "(no goal: packed weight bytes / time)", null,
                    $"{F(st[1].Ms / st[0].Ms)}x torch bfloat16, {F(st[2].Ms / st[0].Ms)}x torch float32");
            }
        }
    }

    // ---------------------------------------------------------------- X6 linear algebra (no goal in issue 6)
    // mlx.core.linalg's factorizations of a 256 x 256 float64 symmetric positive definite matrix: ours are single-
    // threaded managed kernels (src/Kernels/Linalg.cs), TorchSharp's are LAPACK (MKL).
    static void X6()
    {
        const int N = 256;
        var r = Rand((long)N * N, 93, true);
        var spd = new double[N * N];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
            {
                double sum = 0;
                for (int k = 0; k < N; k++) sum += (double)r[i * N + k] * r[j * N + k];
                spd[i * N + j] = sum + (i == j ? N : 0);
            }
        var a = Mx.Array(spd, new[] { N, N });
        Mx.Eval(a);
        using var ta = torch.tensor(spd, new long[] { N, N });
        float[] F32(MxArray x) => Mx.AsType(x, DType.Float32).ToArray<float>();
        float[] T32(Tensor x) { using var f = x.to_type(torch.float32).contiguous(); return f.data<float>().ToArray(); }
        var cases = new (string Name, Func<MxArray> Ours, Func<Tensor> Theirs, string TheirName)[]
        {
            ("inv", () => Mx.Linalg.Inv(a), () => torch.linalg.inv(ta), "torch.linalg.inv"),
            ("cholesky", () => Mx.Linalg.Cholesky(a), () => torch.linalg.cholesky(ta), "torch.linalg.cholesky"),
            ("eigvalsh", () => Mx.Linalg.Eigvalsh(a), () => torch.linalg.eigvalsh(ta), "torch.linalg.eigvalsh"),
            ("eigh (vectors)", () => Mx.Abs(Mx.Linalg.Eigh(a).Eigenvectors), () => torch.linalg.eigh(ta).Item2.abs(), "torch.linalg.eigh"),
            ("svdvals", () => Mx.Linalg.Svd(a, computeUV: false)[0], () => torch.linalg.svdvals(ta), "torch.linalg.svdvals"),
            ("qr (R, |diag|)", () => Mx.Abs(Mx.Linalg.Qr(a).R), () => torch.linalg.qr(ta).Item2.abs(), "torch.linalg.qr"),
        };
        foreach (var c in cases)
        {
            using (var t = c.Theirs()) Check($"X6 {c.Name}", F32(c.Ours()), T32(t), 1e-3);
            var st = Bench($"X6 {c.Name}", 2,
                I("Mx.Linalg + Eval", () => { using var scope = Mx.NewDisposeScope(); Mx.Eval(c.Ours()); }, _ => ""),
                I(c.TheirName, () => { using var scope = torch.NewDisposeScope(); c.Theirs(); }, _ => ""));
            Add("X6", $"{c.Name} of a {N}x{N} float64 matrix", st[0], st[1], "(no goal)", null, $"{F(st[1].Ms / st[0].Ms)}x torch");
        }
    }

    // ---------------------------------------------------------------- X2 ops on transposed layouts (no goal in issue 6)
    // 4096 x 4096 float32: a transpose made contiguous, an add with a transposed operand, softmax and cumsum over axis 0.
    static void X2()
    {
        const int N = 4096;
        var dx = Rand((long)N * N, 93, true); var dy = Rand((long)N * N, 94, true);
        var x = Ours(dx, N, N); var y = Ours(dy, N, N);
        using var tx = Theirs(dx, N, N); using var ty = Theirs(dy, N, N);
        double mb = (double)N * N * 4;
        var cases = new (string Name, double Bytes, Func<MxArray> Ours, Func<Tensor> Theirs, string TheirName)[]
        {
            ("transpose made contiguous", 2 * mb, () => Mx.Contiguous(Mx.Transpose(x)), () => tx.t().contiguous(), "x.t().contiguous()"),
            ("x + y^T", 3 * mb, () => Mx.Add(x, Mx.Transpose(y)), () => tx + ty.t(), "x + y.t()"),
            ("softmax over axis 0", 2 * mb, () => Mx.Softmax(x, 0), () => torch.softmax(tx, 0), "torch.softmax(x, 0)"),
            ("cumsum over axis 0", 2 * mb, () => Mx.Cumsum(x, 0), () => torch.cumsum(tx, 0), "torch.cumsum(x, 0)"),
        };
        foreach (var c in cases)
        {
            using (var r = c.Theirs()) Check($"X2 {c.Name}", c.Ours().ToArray<float>(), r.contiguous().data<float>().ToArray(), 1e-3);
            var st = Bench($"X2 {c.Name}", 3,
                I("ours + Eval", () => Mx.Eval(c.Ours()), GBs(c.Bytes)),
                I(c.TheirName, () => { using var r = c.Theirs(); }, GBs(c.Bytes)));
            Add("X2", $"{c.Name}, 4096x4096 fp32", st[0], st[1], "(no goal: bytes moved / time)", null, $"{F(st[1].Ms / st[0].Ms)}x torch");
        }
    }

    // ---------------------------------------------------------------- X3 everyday ops (no goal in issue 6)
    // A sweep over the ops a transformer or MLP step is made of, on (4096, 1024) float32 activations, to find where we
    // are slower than TorchSharp: about 40 cases, 2-3 minutes; `--only a,b` picks cases by name.
    static void X3()
    {
        const int R = 4096, C = 1024;
        var dx = Rand((long)R * C, 95, true); var dy = Rand((long)R * C, 96, true);
        var dv = Rand(C, 97, true); var dcol = Rand(R, 98, true);
        var x = Ours(dx, R, C); var y = Ours(dy, R, C); var v = Ours(dv, C); var col = Ours(dcol, R, 1);
        using var tx = Theirs(dx, R, C); using var ty = Theirs(dy, R, C); using var tv = Theirs(dv, C); using var tcol = Theirs(dcol, R, 1);
        var xa = Mx.Abs(x); Mx.Eval(xa); using var txa = tx.abs();
        var xh = Mx.AsType(x, DType.Float16); var xb = Mx.AsType(x, DType.BFloat16); Mx.Eval(xh, xb);
        using var txh = tx.to_type(torch.float16); using var txb = tx.to_type(torch.bfloat16);
        const int Vocab = 8192;
        var dt = Rand((long)Vocab * C, 99, true); var table = Ours(dt, Vocab, C); using var ttable = Theirs(dt, Vocab, C);
        var ri = new Random(5); var idx = Enumerable.Range(0, R).Select(_ => ri.Next(Vocab)).ToArray();
        var oidx = Mx.Array(idx, new[] { R }); Mx.Eval(oidx); using var tidx = torch.tensor(idx.Select(i => (long)i).ToArray(), torch.int64);
        var mask = Mx.Greater(x, y); Mx.Eval(mask); using var tmask = tx > ty;
        var lnw = Ours(Rand(C, 100, true), C); var lnb = Ours(Rand(C, 101, true), C);
        using var tlnw = Theirs(lnw.ToArray<float>(), C); using var tlnb = Theirs(lnb.ToArray<float>(), C);
        var dq = Rand(8L * 512 * 64, 102, true); var dk = Rand(8L * 64 * 512, 103, true);
        var q = Ours(dq, 8, 512, 64); var k = Ours(dk, 8, 64, 512); using var tq = Theirs(dq, 8, 512, 64); using var tk = Theirs(dk, 8, 64, 512);
        double mb = (double)R * C * 4;
        MxArray F32(MxArray z) => z.DType == DType.Float32 ? z : Mx.AsType(z, DType.Float32);
        Tensor T32(Tensor z) => z.dtype == torch.float32 ? z : z.to_type(torch.float32);
        var cases = new (string Name, double Bytes, Func<MxArray> Ours, Func<Tensor> Theirs, string TheirName)[]
        {
            ("exp", 2 * mb, () => Mx.Exp(x), () => tx.exp(), "x.exp()"),
            ("log |x|", 2 * mb, () => Mx.Log(xa), () => txa.log(), "x.log()"),
            ("sqrt |x|", 2 * mb, () => Mx.Sqrt(xa), () => txa.sqrt(), "x.sqrt()"),
            ("tanh", 2 * mb, () => Mx.Tanh(x), () => tx.tanh(), "x.tanh()"),
            ("sigmoid", 2 * mb, () => Mx.Sigmoid(x), () => tx.sigmoid(), "x.sigmoid()"),
            ("erf", 2 * mb, () => Mx.Erf(x), () => tx.erf(), "x.erf()"),
            ("sin", 2 * mb, () => Mx.Sin(x), () => tx.sin(), "x.sin()"),
            ("relu", 2 * mb, () => NnF.Relu(x), () => torch.nn.functional.relu(tx), "F.relu(x)"),
            ("gelu", 2 * mb, () => NnF.Gelu(x), () => torch.nn.functional.gelu(tx), "F.gelu(x)"),
            ("silu", 2 * mb, () => NnF.Silu(x), () => torch.nn.functional.silu(tx), "F.silu(x)"),
            ("x + y", 3 * mb, () => Mx.Add(x, y), () => tx + ty, "x + y"),
            ("x * row vector", 2 * mb, () => Mx.Multiply(x, v), () => tx * tv, "x * v"),
            ("x - column vector", 2 * mb, () => Mx.Subtract(x, col), () => tx - tcol, "x - c"),
            ("x / y", 3 * mb, () => Mx.Divide(x, y), () => tx / ty, "x / y"),
            ("maximum(x, y)", 3 * mb, () => Mx.Maximum(x, y), () => torch.maximum(tx, ty), "torch.maximum"),
            ("where(x > y, x, y)", 3 * mb, () => Mx.Where(mask, x, y), () => torch.where(tmask, tx, ty), "torch.where"),
            ("clip(x, -1, 1)", 2 * mb, () => Mx.Clip(x, Mx.Array(-1f), Mx.Array(1f)), () => tx.clamp(-1, 1), "x.clamp(-1, 1)"),
            ("sum axis 0", mb, () => Mx.Sum(x, 0), () => tx.sum(new long[] { 0 }), "x.sum(0)"),
            ("mean axis 1", mb, () => Mx.Mean(x, 1), () => tx.mean(new long[] { 1 }), "x.mean(1)"),
            ("max axis 1", mb, () => Mx.Max(x, 1), () => torch.amax(tx, new long[] { 1 }), "torch.amax(x, 1)"),
            ("max axis 0", mb, () => Mx.Max(x, 0), () => torch.amax(tx, new long[] { 0 }), "torch.amax(x, 0)"),
            ("var axis 1", mb, () => Mx.Var(x, 1), () => tx.var(1, false), "x.var(1, unbiased: false)"),
            ("logsumexp axis 1", mb, () => Mx.Logsumexp(x, 1), () => torch.logsumexp(tx, 1), "torch.logsumexp(x, 1)"),
            ("argmax axis 0", mb, () => Mx.AsType(Mx.ArgMax(x, 0), DType.Float32), () => tx.argmax(0).to_type(torch.float32), "x.argmax(0)"),
            ("softmax axis 1", 2 * mb, () => Mx.Softmax(x, 1), () => torch.softmax(tx, 1), "torch.softmax(x, 1)"),
            ("log_softmax axis 1", 2 * mb, () => NnF.LogSoftmax(x, 1), () => torch.nn.functional.log_softmax(tx, 1), "F.log_softmax(x, 1)"),
            ("layer norm", 2 * mb, () => Mx.Fast.LayerNorm(x, lnw, lnb, 1e-5), () => torch.nn.functional.layer_norm(tx, new long[] { C }, tlnw, tlnb, 1e-5), "F.layer_norm"),
            ("rms norm", 2 * mb, () => Mx.Fast.RmsNorm(x, lnw, 1e-5),
                () => tx * torch.rsqrt(tx.square().mean(new long[] { -1 }, true) + 1e-5) * tlnw, "x * rsqrt(mean(x^2) + eps) * w"),
            ("cumsum axis 1", 2 * mb, () => Mx.Cumsum(x, 1), () => torch.cumsum(tx, 1), "torch.cumsum(x, 1)"),
            ("sort axis 1", 2 * mb, () => Mx.Sort(x, 1), () => torch.sort(tx, 1).values, "torch.sort(x, 1)"),
            ("argsort axis 1", 2 * mb, () => Mx.AsType(Mx.ArgSort(x, 1), DType.Float32), () => torch.sort(tx, 1, false, true).indices.to_type(torch.float32), "torch.sort(x, 1, stable: true).indices"),
            ("topk 8 axis 1 (sorted)", mb, () => Mx.Sort(Mx.TopK(x, 8, 1), 1), () => torch.sort(torch.topk(tx, 8, 1).values, 1).values, "torch.topk(x, 8, 1)"),
            ("take rows (embedding)", 2 * mb, () => Mx.Take(table, oidx, 0), () => ttable.index_select(0, tidx), "table.index_select(0, i)"),
            ("scatter-add rows (embedding grad)", 3 * mb, () => Mx.ScatterAdd(table, oidx, x, 0), () => ttable.index_add(0, tidx, tx, 1), "table.index_add(0, i, x)"),
            ("concatenate axis 1", 4 * mb, () => Mx.Concatenate(new[] { x, y }, 1), () => torch.cat(new[] { tx, ty }, 1), "torch.cat([x, y], 1)"),
            ("slice [:, ::2] + 1", mb, () => Mx.Add(x[.., Idx.Slice(null, null, 2)], 1f), () => tx[.., TensorIndex.Slice(null, null, 2)] + 1, "x[:, ::2] + 1"),
            ("bmm (8,512,64)x(8,64,512)", 0, () => Mx.Matmul(q, k), () => torch.bmm(tq, tk), "torch.bmm"),
            ("float16 exp", mb, () => Mx.Exp(xh), () => txh.exp(), "x16.exp()"),
            ("float16 x + x", mb, () => Mx.Add(xh, xh), () => txh + txh, "x16 + x16"),
            ("bfloat16 x * x", mb, () => Mx.Multiply(xb, xb), () => txb * txb, "x16 * x16"),
            ("float32 -> float16", 1.5 * mb, () => Mx.AsType(x, DType.Float16), () => tx.to_type(torch.float16), "x.to(float16)"),
        };
        foreach (var c in cases.Where(c => Only.Length == 0 || Only.Any(o => c.Name.Contains(o, StringComparison.OrdinalIgnoreCase))))
        {
            try
            {
                using (var r = c.Theirs())
                using (var r32 = T32(r).contiguous())
                    Check($"X3 {c.Name}", F32(c.Ours()).ToArray<float>(), r32.data<float>().ToArray(), c.Name.StartsWith("float16") || c.Name.StartsWith("bfloat16") ? 1e-2 : 1e-3);
                double bytes = c.Bytes > 0 ? c.Bytes : 8.0 * 512 * 512 * 4;
                var st = Bench($"X3 {c.Name}", 3,
                    // Each side frees its result and temporaries when the call ends, so each can reuse warm memory.
                    I("ours + Eval", () => { using var scope = Mx.NewDisposeScope(); Mx.Eval(c.Ours()); }, GBs(bytes)),
                    I(c.TheirName, () => { using var scope = torch.NewDisposeScope(); c.Theirs(); }, GBs(bytes)));
                Add("X3", c.Name, st[0], st[1], "(no goal)", null, $"{F(st[1].Ms / st[0].Ms)}x torch");
            }
            catch (Exception e)
            {
                Console.WriteLine($"# X3 {c.Name}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    // ---------------------------------------------------------------- B2 elementwise a*b+c
    static void B2()
    {
        const int n = 16_777_216;
        double bytes = 4.0 * 4 * n; // 3 reads + 1 write of 64 MB
        var da = Rand(n, 21); var db = Rand(n, 22); var dc = Rand(n, 23);
        var a = Ours(da, n); var b = Ours(db, n); var c = Ours(dc, n);
        using var ta = Theirs(da, n); using var tb = Theirs(db, n); using var tc = Theirs(dc, n);
        using (var t = ta * tb) using (var d = t + tc) Check("B2", Mx.Add(Mx.Multiply(a, b), c).ToArray<float>(), d.data<float>().ToArray());
        float[] A = da, B = db, C = dc, D = new float[n];
        int th = Environment.ProcessorCount;
        var impls = new List<Impl>
        {
            I("Mx.Add(Mx.Multiply(a,b),c) + Eval", () => Mx.Eval(Mx.Add(Mx.Multiply(a, b), c)), GBs(bytes)),
            I("torch a*b+c (eager, 2 kernels)", () => { using var t = ta * tb; using var d = t + tc; }, GBs(bytes)),
            I("torch.addcmul(c,a,b) (1 kernel)", () => { using var d = torch.addcmul(tc, ta, tb, 1.0); }, GBs(bytes)),
            I($"TP.FusedMultiplyAdd {th}T, preallocated", () =>
                Parallel.For(0, th, new ParallelOptions { MaxDegreeOfParallelism = th }, t =>
                {
                    int s = t * (n / th), l = t == th - 1 ? n - s : n / th;
                    TP.FusedMultiplyAdd(A.AsSpan(s, l), B.AsSpan(s, l), C.AsSpan(s, l), D.AsSpan(s, l));
                }), GBs(bytes)),
        };
        // Mx.Compile is looked up by reflection so that this runner builds against src with or without it.
        var compileMethod = typeof(Mx).GetMethod("Compile", new[] { typeof(Func<MxArray[], MxArray[]>), typeof(bool) });
        if (compileMethod is not null)
        {
            var fma = (Func<MxArray[], MxArray[]>)compileMethod.Invoke(null, new object[] { (Func<MxArray[], MxArray[]>)(t => new[] { Mx.Add(Mx.Multiply(t[0], t[1]), t[2]) }), false })!;
            Check("B2 compiled", fma(new[] { a, b, c })[0].ToArray<float>(), dc.Select((v, i) => da[i] * db[i] + v).ToArray());
            impls.Add(I("Mx.Compile(a*b+c) + Eval", () => Mx.Eval(fma(new[] { a, b, c })), GBs(bytes)));
        }
        var s = Bench("B2 a*b+c 16M", 3, impls.ToArray());
        double speedup = s[1].Ms / s[0].Ms;
        Add("B2", "a*b+c, 16,777,216 fp32 (plain)", s[0], s[1], "plain >= 2x TorchSharp", speedup >= 2,
            $"{F(speedup)}x; ours = {F(100 * bytes / (s[0].Ms * 1e6) / CopyGBs, "F0")}% of copy bw");
        if (compileMethod is null)
        {
            Add("B2", "a*b+c compiled", s[0], null, "compiled >= 80% of copy bw", null, "src has no Mx.Compile: not measurable");
            return;
        }
        double share = bytes / (s[4].Ms * 1e6) / CopyGBs;
        Add("B2", "a*b+c compiled (Mx.Compile)", s[4], s[1], "compiled >= 80% of copy bw", share >= 0.8, $"{F(100 * share, "F0")}% of copy bw, {F(s[1].Ms / s[4].Ms)}x torch");
    }

    // ---------------------------------------------------------------- B3 reductions
    static void B3()
    {
        const int n = 16_777_216;
        double bytes = 4.0 * n;
        var dx = Rand(n, 31);
        var x = Ours(dx, n);
        using var tx = Theirs(dx, n);
        using (var ts = torch.sum(tx)) Console.WriteLine($"# B3 sum: ours {Mx.Sum(x).Item<float>()}, torch {ts.item<float>()}, exact {dx.Sum(v => (double)v)}");
        float sink = 0;
        var s = Bench("B3 sum 16M", 3,
            I("Mx.Sum + Eval", () => Mx.Eval(Mx.Sum(x)), GBs(bytes)),
            I("torch.sum", () => { using var r = torch.sum(tx); }, GBs(bytes)),
            I("TP.Sum 1 thread", () => sink += TP.Sum(dx), GBs(bytes)));
        Add("B3", "sum of 16,777,216 fp32", s[0], s[1], ">= TorchSharp", s[0].Ms <= s[1].Ms, $"{F(s[1].Ms / s[0].Ms)}x");

        var x2 = Ours(dx, 4096, 4096);
        using var tx2 = Theirs(dx, 4096, 4096);
        using (var ts = tx2.sum(1)) Check("B3 sum axis 1", Mx.Sum(x2, 1).ToArray<float>(), ts.data<float>().ToArray());
        var R = new float[4096];
        var s2 = Bench("B3 sum axis1 4096^2", 3,
            I("Mx.Sum(x, 1) + Eval", () => Mx.Eval(Mx.Sum(x2, 1)), GBs(bytes)),
            I("torch.sum(dim=1)", () => { using var r = tx2.sum(1); }, GBs(bytes)),
            I("TP.Sum per row, 1 thread", () => { for (int i = 0; i < 4096; i++) R[i] = TP.Sum(dx.AsSpan(i * 4096, 4096)); }, GBs(bytes)));
        Add("B3", "sum over axis 1 of 4096x4096", s2[0], s2[1], ">= TorchSharp", s2[0].Ms <= s2[1].Ms, $"{F(s2[1].Ms / s2[0].Ms)}x");
        if (sink == 42) Console.WriteLine(sink);
    }

    // ---------------------------------------------------------------- B4 softmax
    static void B4()
    {
        const int R = 4096, C = 4096;
        double bytes = 2.0 * 4 * R * C;
        var dx = Rand((long)R * C, 41, normal: true);
        var x = Ours(dx, R, C);
        using var tx = Theirs(dx, R, C);
        using (var ty = torch.softmax(tx, -1)) Check("B4", Mx.Softmax(x, -1).ToArray<float>(), ty.data<float>().ToArray(), 1e-5);
        var Y = new float[(long)R * C];
        int th = Environment.ProcessorCount;
        var s = Bench("B4 softmax 4096^2", 3,
            I("Mx.Softmax(x, -1) + Eval", () => Mx.Eval(Mx.Softmax(x, -1)), GBs(bytes)),
            I("torch.softmax(dim=-1)", () => { using var y = torch.softmax(tx, -1); }, GBs(bytes)),
            I($"TP.SoftMax per row, {th}T, preallocated", () =>
                Parallel.For(0, th, new ParallelOptions { MaxDegreeOfParallelism = th }, t =>
                {
                    for (int i = t * R / th; i < (t + 1) * R / th; i++) TP.SoftMax(dx.AsSpan(i * C, C), Y.AsSpan(i * C, C));
                }), GBs(bytes)));
        double speedup = s[1].Ms / s[0].Ms;
        Add("B4", "softmax last axis, 4096x4096", s[0], s[1], ">= 4x TorchSharp", speedup >= 4, $"{F(speedup)}x");
    }

    // ---------------------------------------------------------------- B5 conv2d
    static void B5()
    {
        const int Nb = 8, H = 56, W = 56, Ci = 64, Co = 64, K = 3;
        double flop = 2.0 * Nb * H * W * Co * Ci * K * K;
        var dx = Rand((long)Nb * H * W * Ci, 51, normal: true);
        var dw = Rand((long)Co * K * K * Ci, 52, normal: true);
        for (int i = 0; i < dw.Length; i++) dw[i] *= 0.05f;
        var x = Ours(dx, Nb, H, W, Ci);          // NHWC
        var w = Ours(dw, Co, K, K, Ci);          // (O, KH, KW, I), as MLX
        using var txNhwc = Theirs(dx, Nb, H, W, Ci);
        using var twOhwi = Theirs(dw, Co, K, K, Ci);
        using var tx = txNhwc.permute(0, 3, 1, 2).contiguous();   // NCHW
        using var tw = twOhwi.permute(0, 3, 1, 2).contiguous();   // OIHW
        using (var ty = torch.nn.functional.conv2d(tx, tw, padding: new long[] { 1, 1 }))
        using (var tyNhwc = ty.permute(0, 2, 3, 1).contiguous())
            Check("B5", Mx.Conv2d(x, w, 1, 1).ToArray<float>(), tyNhwc.data<float>().ToArray());
        var s = Bench("B5 conv2d", 3,
            I("Mx.Conv2d NHWC pad 1 + Eval", () => Mx.Eval(Mx.Conv2d(x, w, 1, 1)), Gflops(flop)),
            I("torch conv2d NCHW pad 1", () => { using var y = torch.nn.functional.conv2d(tx, tw, padding: new long[] { 1, 1 }); }, Gflops(flop)));
        double speedup = s[1].Ms / s[0].Ms;
        Add("B5", "conv2d (8,56,56,64) k3x3x64 pad 1", s[0], s[1], ">= 0.8x TorchSharp", speedup >= 0.8, $"{F(speedup)}x");
    }

    // ---------------------------------------------------------------- B6 MLP training step
    static void B6()
    {
        const int Bt = 256;
        double flop = 3 * 2.0 * Bt * (784 * 512 + 512 * 512 + 512 * 10);
        Func<double, string> rate = ms => string.Create(CultureInfo.InvariantCulture, $"{Bt / ms * 1000:F0} samples/s, {flop / (ms * 1e6):F1} GFLOP/s");
        var dx = Rand((long)Bt * 784, 61);
        var rnd = new Random(62);
        var labels = Enumerable.Range(0, Bt).Select(_ => rnd.Next(10)).ToArray();

        // ours
        Mx.Random.Seed(6);
        var model = new Sequential(new Linear(784, 512), (Func<MxArray, MxArray>)NnF.Relu, new Linear(512, 512), (Func<MxArray, MxArray>)NnF.Relu, new Linear(512, 10));
        Mx.Eval(model.Parameters().Values);
        var opt = new SGD(0.1);
        var lossAndGrad = NnF.ValueAndGrad(model, p => NnF.CrossEntropy(model.Forward(p[0]), p[1], reduction: "mean"));
        var x = Ours(dx, Bt, 784);
        var y = Mx.Array(labels);
        Mx.Eval(y);

        // torch, with our initial weights copied in
        var l1 = torch.nn.Linear(784, 512); var l2 = torch.nn.Linear(512, 512); var l3 = torch.nn.Linear(512, 10);
        var tmodel = torch.nn.Sequential(("l1", l1), ("r1", torch.nn.ReLU()), ("l2", l2), ("r2", torch.nn.ReLU()), ("l3", l3));
        var p = model.Parameters();
        using (torch.no_grad())
        {
            foreach (var (lin, i) in new[] { (l1, 0), (l2, 2), (l3, 4) })
            {
                var wt = p[$"layers.{i}.weight"]; var bs = p[$"layers.{i}.bias"];
                using var tw = Theirs(wt.ToArray<float>(), wt.Shape.Select(d => (long)d).ToArray());
                using var tb = Theirs(bs.ToArray<float>(), bs.Shape.Select(d => (long)d).ToArray());
                lin.weight!.copy_(tw); lin.bias!.copy_(tb);
            }
        }
        var lossFn = torch.nn.CrossEntropyLoss();
        var topt = torch.optim.SGD(tmodel.parameters(), 0.1);
        using var tx = Theirs(dx, Bt, 784);
        using var ty = torch.tensor(labels.Select(v => (long)v).ToArray(), new long[] { Bt });

        float oursLoss = 0, theirLoss = 0;
        void OursStep()
        {
            using var scope = Mx.NewDisposeScope();
            var (loss, grads) = lossAndGrad(new[] { x, y });
            opt.Update(model, grads);
            Mx.Eval(model.Parameters().Values.Append(loss));
            oursLoss = loss.Item<float>();
        }
        void TorchStep()
        {
            using var scope = torch.NewDisposeScope();
            topt.zero_grad();
            var loss = lossFn.forward(tmodel.forward(tx), ty);
            loss.backward();
            topt.step();
            theirLoss = loss.item<float>();
        }
        OursStep(); TorchStep();
        Console.WriteLine($"# B6 first-step loss on identical weights: ours {oursLoss:F5}, torch {theirLoss:F5}");
        OursStep(); TorchStep();
        Console.WriteLine($"# B6 second-step loss (after one SGD update each): ours {oursLoss:F5}, torch {theirLoss:F5}");
        var s = Bench("B6 MLP train step", 3,
            I("ValueAndGrad + SGD.Update + Eval", OursStep, rate),
            I("TorchSharp fwd+bwd+SGD.step", TorchStep, rate));
        Console.WriteLine($"# B6 loss after benchmarking: ours {oursLoss:F5}, torch {theirLoss:F5} (each took a different number of steps)");
        double speedup = s[1].Ms / s[0].Ms;
        Add("B6", "MLP 784-512-512-10 train step, batch 256", s[0], s[1], ">= 2x TorchSharp", speedup >= 2, $"{F(speedup)}x");
    }

    // ---------------------------------------------------------------- B7 attention
    static void B7()
    {
        const int H = 8, L = 512, D = 64;
        double flop = 2.0 * 2 * H * L * L * D;
        var dq = Rand(H * L * D, 71, true); var dk = Rand(H * L * D, 72, true); var dv = Rand(H * L * D, 73, true);
        var q = Ours(dq, 1, H, L, D); var k = Ours(dk, 1, H, L, D); var v = Ours(dv, 1, H, L, D);
        using var tq = Theirs(dq, 1, H, L, D); using var tk = Theirs(dk, 1, H, L, D); using var tv = Theirs(dv, 1, H, L, D);
        MxArray Attn() => NnF.ScaledDotProductAttention(q, k, v, 1.0 / 8);
        MxArray Composed() => Mx.Matmul(Mx.Softmax(Mx.Multiply(Mx.Matmul(q, Mx.SwapAxes(k, -1, -2)), 1.0 / 8), -1), v);
        using (var o = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv))
        {
            Check("B7", Attn().ToArray<float>(), o.data<float>().ToArray());
            Check("B7 composed", Composed().ToArray<float>(), o.data<float>().ToArray());
        }
        var s = Bench("B7 attention", 3,
            I("Nn.ScaledDotProductAttention (fused) + Eval", () => Mx.Eval(Attn()), Gflops(flop)),
            I("torch F.scaled_dot_product_attention", () => { using var o = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv); }, Gflops(flop)),
            I("torch softmax(q k^T / 8) v (eager)", () =>
            {
                using var scope = torch.NewDisposeScope();
                var o = torch.matmul(torch.softmax(torch.matmul(tq, tk.transpose(-2, -1)) / 8.0, -1), tv);
            }, Gflops(flop)),
            I("Mx matmul/softmax/matmul + Eval (reference)", () => Mx.Eval(Composed()), Gflops(flop)));
        Add("B7", "attention (1,8,512,64)", s[0], s[1], ">= TorchSharp SDPA", s[0].Ms <= s[1].Ms,
            $"{F(s[1].Ms / s[0].Ms)}x vs SDPA, {F(s[2].Ms / s[0].Ms)}x vs torch eager manual; composed ops {F(s[1].Ms / s[3].Ms)}x vs SDPA");
    }

    // ---------------------------------------------------------------- B8 per-op overhead
    static void B8()
    {
        const int Ops = 100;
        var x0 = Mx.Array(1.0f);
        var one = Mx.Array(1.0f);
        Mx.Eval(x0, one);
        {
            var x = x0;
            for (int i = 0; i < Ops; i++) x = Mx.Add(x, 1.0);
            Console.WriteLine($"# B8 ours result {x.Item<float>()} (expected {1 + Ops})");
        }
        using var t0 = torch.tensor(1.0f);
        var s = Bench("B8 per-op overhead", 3,
            I("100 x Mx.Add(x, 1.0) on 0-d, Eval", () =>
            {
                var x = x0;
                for (int i = 0; i < Ops; i++) x = Mx.Add(x, 1.0);
                Mx.Eval(x);
            }, Us(Ops)),
            I("torch eager 100 x (x + 1) on 0-d", () =>
            {
                using var scope = torch.NewDisposeScope();
                var x = t0;
                for (int i = 0; i < Ops; i++) x = x + 1.0f;
            }, Us(Ops)),
            I("100 x Mx.Add(x, oneArray) on 0-d, Eval", () =>
            {
                var x = x0;
                for (int i = 0; i < Ops; i++) x = Mx.Add(x, one);
                Mx.Eval(x);
            }, Us(Ops)),
            I("100 x Mx.Add(x, 1.0), graph build only", () =>
            {
                var x = x0;
                for (int i = 0; i < Ops; i++) x = Mx.Add(x, 1.0);
                GC.KeepAlive(x);
            }, Us(Ops)));
        double us = s[0].Ms * 1000 / Ops;
        Add("B8", "per-op overhead, chain of 100 scalar adds", s[0], s[1], "<= 1 us/op", us <= 1.0, $"{F(us)} us/op");
    }
}
