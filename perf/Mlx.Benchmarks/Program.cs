// BenchmarkDotNet micro-benchmarks of Mlx.Managed ops (each measured as "build the graph + Mx.Eval"), with
// System.Numerics.Tensors.TensorPrimitives baselines where one exists.
//
//   dotnet run -c Release --project perf/Mlx.Benchmarks -- --quick --filter '*'      # ShortRun, a few minutes
//   dotnet run -c Release --project perf/Mlx.Benchmarks -- --filter '*Matmul*'       # default (long) job
//
// --quick           ShortRun job (1 launch, 3 warm-up, 3 measured iterations)
// --out-of-process  let BenchmarkDotNet generate and build a separate project per run (default: in-process,
//                   which avoids rebuilding src/Core while other people build it)
// Every other argument goes to BenchmarkSwitcher (--filter, --list flat, --job, --exporters, ...).
using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Mlx;

namespace Mlx.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        bool quick = args.Contains("--quick");
        bool outOfProcess = args.Contains("--out-of-process");
        var rest = args.Where(a => a != "--quick" && a != "--out-of-process").ToArray();
        var job = quick ? Job.ShortRun : Job.Default;
        if (!outOfProcess) job = job.WithToolchain(InProcessEmitToolchain.Instance);
        var config = DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddColumn(StatisticColumn.Median)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, config);
    }

    internal static float[] Rand(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = r.NextSingle() * 2 - 1;
        return x;
    }

    internal static MxArray Ours(float[] data, params int[] shape)
    {
        var a = Mx.Array(data, shape);
        Mx.Eval(a);
        return a;
    }
}

/// <summary>Elementwise and reduction ops over 16,777,216 float32 (64 MB per array).</summary>
[MemoryDiagnoser(false)]
public class ElementwiseBenchmarks
{
    private const int N = 16_777_216;
    private float[] _a = null!, _b = null!, _out = null!;
    private MxArray _xa = null!, _xb = null!;

    [GlobalSetup]
    public void Setup()
    {
        _a = Program.Rand(N, 1);
        _b = Program.Rand(N, 2);
        _out = new float[N];
        _xa = Program.Ours(_a, N);
        _xb = Program.Ours(_b, N);
    }

    [Benchmark(Description = "Mx.Add + Eval")]
    [BenchmarkCategory("add")]
    public void MxAdd() => Mx.Eval(Mx.Add(_xa, _xb));

    [Benchmark(Description = "TensorPrimitives.Add (1 thread, preallocated)")]
    [BenchmarkCategory("add")]
    public void TpAdd() => TensorPrimitives.Add(_a, _b, _out);

    [Benchmark(Description = "Mx.Exp + Eval")]
    [BenchmarkCategory("exp")]
    public void MxExp() => Mx.Eval(Mx.Exp(_xa));

    [Benchmark(Description = "TensorPrimitives.Exp (1 thread, preallocated)")]
    [BenchmarkCategory("exp")]
    public void TpExp() => TensorPrimitives.Exp(_a, _out);

    [Benchmark(Description = "Mx.Sum + Eval")]
    [BenchmarkCategory("sum")]
    public float MxSum()
    {
        var s = Mx.Sum(_xa);
        Mx.Eval(s);
        return s.Item<float>();
    }

    [Benchmark(Description = "TensorPrimitives.Sum (1 thread)")]
    [BenchmarkCategory("sum")]
    public float TpSum() => TensorPrimitives.Sum(_a);
}

/// <summary>Softmax over the last axis of a 4096x4096 float32 array.</summary>
[MemoryDiagnoser(false)]
public class SoftmaxBenchmarks
{
    private const int R = 4096, C = 4096;
    private float[] _x = null!, _y = null!;
    private MxArray _mx = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Program.Rand(R * C, 3);
        _y = new float[R * C];
        _mx = Program.Ours(_x, R, C);
    }

    [Benchmark(Description = "Mx.Softmax(x, -1) + Eval")]
    public void MxSoftmax() => Mx.Eval(Mx.Softmax(_mx, -1));

    [Benchmark(Description = "TensorPrimitives.SoftMax per row (1 thread, preallocated)")]
    public void TpSoftmax()
    {
        for (int i = 0; i < R; i++) TensorPrimitives.SoftMax(_x.AsSpan(i * C, C), _y.AsSpan(i * C, C));
    }
}

/// <summary>Square float32 matrix product (no TensorPrimitives equivalent).</summary>
[MemoryDiagnoser(false)]
public class MatmulBenchmarks
{
    private MxArray _a = null!, _b = null!;

    [Params(256, 1024, 2048)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = Program.Ours(Program.Rand(N * N, 4), N, N);
        _b = Program.Ours(Program.Rand(N * N, 5), N, N);
    }

    [Benchmark(Description = "Mx.Matmul + Eval")]
    public void MxMatmul() => Mx.Eval(Mx.Matmul(_a, _b));
}

/// <summary>
/// One training step (forward, backward through Nn.ValueAndGrad, SGD update, eval) of the MLP of the speed goals
/// (784-512-512-10, batch 256) and of the MNIST CNN that `mlx train mnist --model cnn` uses (batch 256).
/// </summary>
[MemoryDiagnoser(false)]
public class TrainingStepBenchmarks
{
    private Mlx.Nn.Module _mlp = null!, _cnn = null!;
    private Func<MxArray[], (MxArray Loss, Dictionary<string, MxArray> Grads)> _mlpStep = null!, _cnnStep = null!;
    private Mlx.Optimizers.SGD _mlpOpt = null!, _cnnOpt = null!;
    private MxArray _xFlat = null!, _xImage = null!, _y = null!;

    [GlobalSetup]
    public void Setup()
    {
        Mx.Random.Seed(0);
        Func<MxArray, MxArray> relu = Mlx.Nn.Nn.Relu;
        _mlp = new Mlx.Nn.Sequential(new Mlx.Nn.Linear(784, 512), relu, new Mlx.Nn.Linear(512, 512), relu, new Mlx.Nn.Linear(512, 10));
        _cnn = new Mlx.Nn.Sequential(
            new Mlx.Nn.Conv2d(1, 16, 3, padding: 1), relu, new Mlx.Nn.MaxPool2d(2),
            new Mlx.Nn.Conv2d(16, 32, 3, padding: 1), relu, new Mlx.Nn.MaxPool2d(2),
            (Func<MxArray, MxArray>)(x => Mx.Reshape(x, new[] { x.Shape[0], -1 })),
            new Mlx.Nn.Linear(7 * 7 * 32, 10));
        _xFlat = Mx.Random.Uniform(new[] { 256, 784 });
        _xImage = Mx.Reshape(_xFlat, new[] { 256, 28, 28, 1 });
        _y = Mx.Random.Randint(0, 10, new[] { 256 });
        Mx.Eval(_xFlat, _xImage, _y);
        _mlpStep = Mlx.Nn.Nn.ValueAndGrad(_mlp, a => Mlx.Nn.Nn.CrossEntropy(_mlp.Forward(a[0]), a[1], reduction: "mean"));
        _cnnStep = Mlx.Nn.Nn.ValueAndGrad(_cnn, a => Mlx.Nn.Nn.CrossEntropy(_cnn.Forward(a[0]), a[1], reduction: "mean"));
        _mlpOpt = new Mlx.Optimizers.SGD(0.01);
        _cnnOpt = new Mlx.Optimizers.SGD(0.01, momentum: 0.9);
    }

    [Benchmark(Description = "MLP 784-512-512-10 step, batch 256")]
    public void MlpStep() => Step(_mlp, _mlpStep, _mlpOpt, _xFlat);

    [Benchmark(Description = "MNIST CNN step, batch 256")]
    public void CnnStep() => Step(_cnn, _cnnStep, _cnnOpt, _xImage);

    private void Step(Mlx.Nn.Module model, Func<MxArray[], (MxArray Loss, Dictionary<string, MxArray> Grads)> step, Mlx.Optimizers.Optimizer opt, MxArray x)
    {
        var (loss, grads) = step(new[] { x, _y });
        opt.Update(model, grads);
        Mx.Eval(model.Parameters().Values.Append(loss));
    }
}
