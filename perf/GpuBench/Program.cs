using System.Diagnostics;
using System.Globalization;
using Mlx;
using Mlx.Kernels.Gpu;

// GPU rows of issue 6's benchmark on Device.Gpu: medians of timed repetitions after a warm-up, inputs already on the
// device, each repetition = build the graph + Mx.Eval + Mx.Synchronize (results stay on the device).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
bool cpuAccelerator = args.Contains("--cpu-accelerator");
int reps = args.SkipWhile(a => a != "--reps").Skip(1).Select(int.Parse).FirstOrDefault(9);
Mx.SetGpuBackend(cpuAccelerator ? GpuBackendPreference.CpuAccelerator : GpuBackendPreference.Auto);
var gpu = Device.Gpu;
if (args.SkipWhile(a => a != "--matmul").Skip(1).Select(int.Parse).FirstOrDefault() is int profileN and > 0)
{
    // A few products of one size and nothing else: the process to run under a profiler (ncu).
    var pa = Ready(Mx.Random.Normal(new[] { profileN, profileN }, key: Mx.Random.Key(1)));
    var pb = Ready(Mx.Random.Normal(new[] { profileN, profileN }, key: Mx.Random.Key(2)));
    for (int i = 0; i < 4; i++)
    {
        Mx.Eval(Mx.Matmul(pa, pb, gpu));
        Mx.Synchronize();
    }
    return;
}
var info = Mx.DeviceInfo(gpu);
Console.WriteLine($"# device: {info.Backend} '{info.Name}', {info.MemoryBytes / (1 << 20)} MiB; reps {reps}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine("| row | case | median ms | rate | vs peer |");
Console.WriteLine("|---|---|---|---|---|");

// The CPU accelerator is ~1000x slower than a GPU: shrink the problems so the smoke test ends quickly.
int scale = cpuAccelerator ? 16 : 1;

foreach (int n in cpuAccelerator ? new[] { 64, 128 } : new[] { 256, 1024, 2048, 4096 })
{
    var a = Ready(Mx.Random.Normal(new[] { n, n }, key: Mx.Random.Key(1)));
    var b = Ready(Mx.Random.Normal(new[] { n, n }, key: Mx.Random.Key(2)));
    double ms = Time(() => Mx.Matmul(a, b, gpu));
    double gflops = 2.0 * n * n * n / (ms * 1e6);
    string peer = "";
    if (info.Backend == "cuda" && n == 4096)
    {
        try
        {
            double blas = CuBlas(n);
            peer = $"cuBLAS {2.0 * n * n * n / (blas * 1e6):F0} GFLOP/s ({blas:F3} ms); ours/cuBLAS = {blas / ms:F2}";
        }
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or EntryPointNotFoundException or TypeInitializationException or ILGPU.Runtime.Cuda.CudaException)
        {
            // ILGPU 1.5.3 binds libcublas.so.10-12; a CUDA 13 machine may have only .so.13 (gpu-check.sh links it).
            peer = $"cuBLAS through ILGPU unavailable: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}";
        }
    }
    Row("B1", $"matmul fp32 N={n}", ms, $"{gflops:F0} GFLOP/s", peer);
}

if (args.Contains("--only-b1"))
{
    return;
}

{
    int n = 16_777_216 / scale;
    var a = Ready(Mx.Random.Uniform(new[] { n }, key: Mx.Random.Key(3)));
    var b = Ready(Mx.Random.Uniform(new[] { n }, key: Mx.Random.Key(4)));
    var c = Ready(Mx.Random.Uniform(new[] { n }, key: Mx.Random.Key(5)));
    double ms = Time(() => Mx.Add(Mx.Multiply(a, b, gpu), c, gpu));
    Row("B2", $"a*b+c, {n} floats", ms, $"{4.0 * n * 4 / (ms * 1e6):F0} GB/s", "");
    var fused = Mx.Compile(xs => new[] { Mx.Add(Mx.Multiply(xs[0], xs[1]), xs[2]) });
    double cms = Time(() => { using var _ = new DefaultDevice(gpu); return fused(new[] { a, b, c })[0]; });
    Row("B2", $"a*b+c compiled, {n} floats", cms, $"{4.0 * n * 4 / (cms * 1e6):F0} GB/s", "");
    // X5: a longer chain, gelu's tanh approximation written out as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))
    // (seven ops, three inputs with the two constants), plain and compiled.
    MxArray Gelu(MxArray x) => Mx.Multiply(x, Mx.Sigmoid(Mx.Multiply(Mx.Add(x, Mx.Multiply(Mx.Multiply(Mx.Multiply(x, x), x), 0.044715)), 1.5957691216)));
    double gms = Time(() => { using var _ = new DefaultDevice(gpu); return Gelu(a); });
    Row("X5", $"gelu (tanh approximation) as 7 ops, {n} floats", gms, $"{2.0 * n * 4 / (gms * 1e6):F0} GB/s", "");
    var gelu = Mx.Compile(xs => new[] { Gelu(xs[0]) });
    double gcms = Time(() => { using var _ = new DefaultDevice(gpu); return gelu(new[] { a })[0]; });
    Row("X5", $"gelu (tanh approximation) compiled, {n} floats", gcms, $"{2.0 * n * 4 / (gcms * 1e6):F0} GB/s", "");
    double sms = Time(() => Mx.Sum(a, stream: gpu));
    Row("B3", $"sum of {n} floats", sms, $"{4.0 * n / (sms * 1e6):F0} GB/s", "");
}

{
    int n = 4096 / (cpuAccelerator ? 8 : 1);
    var x = Ready(Mx.Random.Normal(new[] { n, n }, key: Mx.Random.Key(6)));
    double ms = Time(() => Mx.Sum(x, axis: 1, stream: gpu));
    Row("B3", $"sum over axis 1 of {n}x{n}", ms, $"{4.0 * n * n / (ms * 1e6):F0} GB/s", "");
    double sm = Time(() => Mx.Softmax(x, axis: -1, stream: gpu));
    Row("B4", $"softmax last axis of {n}x{n}", sm, $"{8.0 * n * n / (sm * 1e6):F0} GB/s", "");
}

{
    int heads = 8, len = 512 / (cpuAccelerator ? 4 : 1), dim = 64;
    var q = Ready(Mx.Random.Normal(new[] { 1, heads, len, dim }, key: Mx.Random.Key(7)));
    var k = Ready(Mx.Random.Normal(new[] { 1, heads, len, dim }, key: Mx.Random.Key(8)));
    var v = Ready(Mx.Random.Normal(new[] { 1, heads, len, dim }, key: Mx.Random.Key(9)));
    double ms = Time(() =>
    {
        var s = Mx.Multiply(Mx.Matmul(q, Mx.SwapAxes(k, -1, -2, gpu), gpu), 1.0 / 8, gpu);
        return Mx.Matmul(Mx.Softmax(s, axis: -1, stream: gpu), v, gpu);
    });
    double flops = 4.0 * heads * len * len * dim;
    Row("B7", $"attention (1,{heads},{len},{dim})", ms, $"{flops / (ms * 1e6):F0} GFLOP/s", "");
}

{
    // X4: one token and 32 rows through a 4-bit weight (groups of 64): dequantized into float32 scratch, then GEMM.
    int n = cpuAccelerator ? 512 : 4096;
    var (q, s, b) = Mx.Quantize(Mx.Random.Normal(new[] { n, n }, key: Mx.Random.Key(10)), 64, 4);
    q = Ready(q); s = Ready(s); b = Ready(b!);
    foreach (int rows in new[] { 1, 32 })
    {
        var x = Ready(Mx.Random.Normal(new[] { rows, n }, key: Mx.Random.Key(11)));
        double ms = Time(() => Mx.QuantizedMatmul(x, q, s, b, true, 64, 4, stream: gpu));
        Row("X4", $"{rows}x{n} times a 4-bit {n}x{n} weight's transpose", ms, $"{(double)n * n * 4.5 / 8 / (ms * 1e6):F0} GB/s of packed weight", "");
    }
}

MxArray Ready(MxArray x)
{
    // On the host once, then on the device once (a no-op op forces the upload).
    Mx.Eval(x);
    Mx.Eval(Mx.Add(x, 0, gpu));
    return x;
}

double Time(Func<MxArray> op)
{
    var warm = Stopwatch.StartNew();
    int calls = 0;
    while (calls < 3 || warm.ElapsedMilliseconds < 500)
    {
        Mx.Eval(op());
        Mx.Synchronize();
        calls++;
    }
    var times = new double[reps];
    for (int r = 0; r < reps; r++)
    {
        long t0 = Stopwatch.GetTimestamp();
        Mx.Eval(op());
        Mx.Synchronize();
        times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
    Array.Sort(times);
    return times[reps / 2];
}

double CuBlas(int n)
{
    using var device = GpuDevice.Open(cpuAccelerator: false);
    long bytes = 4L * n * n;
    var a = device.Allocate(bytes);
    var b = device.Allocate(bytes);
    var c = device.Allocate(bytes);
    var host = new float[n * n];
    new Random(1).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(host.AsSpan()));
    for (int i = 0; i < host.Length; i++) host[i] = (float)(host[i] % 1);
    unsafe
    {
        fixed (float* p = host)
        {
            device.Upload(a, (nint)p, bytes);
            device.Upload(b, (nint)p, bytes);
        }
    }
    var times = new double[reps];
    for (int r = -3; r < reps; r++)
    {
        long t0 = Stopwatch.GetTimestamp();
        device.CuBlasSgemm(a, b, c, n, n, n);
        device.Synchronize();
        if (r >= 0) times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
    Array.Sort(times);
    return times[reps / 2];
}

static void Row(string row, string what, double ms, string rate, string peer) =>
    Console.WriteLine($"| {row} | {what} | {ms:F3} | {rate} | {peer} |");

/// <summary>Makes <see cref="Device.Gpu"/> the default device for a compiled call (Compile traces on the default device).</summary>
readonly struct DefaultDevice : IDisposable
{
    private readonly Device _previous;

    public DefaultDevice(Device device)
    {
        _previous = Mx.DefaultDevice;
        Mx.SetDefaultDevice(device);
    }

    public void Dispose() => Mx.SetDefaultDevice(_previous);
}
