using System.Diagnostics.CodeAnalysis;
using ILGPU;
using ILGPU.Runtime;

namespace Mlx.Kernels.Gpu;

/// <summary>
/// One interpreting kernel for every fused float32 chain (GpuDevice.UseChainKernels = false, MLX_GPU_FUSED=interpret;
/// by default each chain gets a kernel of its own, <see cref="ChainKernels"/>): each thread runs the program on four
/// elements at a time (one vector access per input and output, see <see cref="Quad{T}"/>). The intermediates sit in
/// thread-local memory (the program indexes them at run time). Its cost is the interpreter's branches: a*b+c over 16M
/// floats took 0.299-0.315 ms on an H100 against 0.129 ms for the chain's own kernel (runs 10-13 in perf/results);
/// keeping the intermediates in sixteen switch-addressed register fields made it slower still (0.535 ms, run 11).
/// </summary>
internal static class FusedKernels
{
    public const int MaxSteps = 16;
    public const int MaxInputs = 4;

    // program: 4 ints per step (0 unary / 1 binary, op code, arg0, arg1); an argument < 0 is input -1-arg, else the
    // result of that step. sN is 1 for a full input and 0 for a scalar one.
    public static void Run(ArrayView<int> program, int steps,
        ArrayView<float> x0, long s0, ArrayView<float> x1, long s1, ArrayView<float> x2, long s2, ArrayView<float> x3, long s3,
        ArrayView<float> o, long n)
    {
        var regs = LocalMemory.Allocate<Quad<float>>(MaxSteps);
        long stride = (long)Grid.DimX * Group.DimX, quads = (n + 3) >> 2;
        for (long q = Grid.GlobalIndex.X; q < quads; q += stride)
        {
            for (int j = 0; j < steps; j++)
            {
                int kind = program[4 * j], op = program[4 * j + 1], a = program[4 * j + 2], b = program[4 * j + 3];
                var x = Load(a, q, n, regs, x0, s0, x1, s1, x2, s2, x3, s3);
                var y = kind == 0 ? x : Load(b, q, n, regs, x0, s0, x1, s1, x2, s2, x3, s3);
                var r = x;
                for (int k = 0; k < 4; k++)
                {
                    r = r.With(k, kind == 0 ? FloatMath.Unary(op, x[k]) : FloatMath.Binary(op, x[k], y[k]));
                }
                regs[j] = r;
            }
            regs[steps - 1].Write(o, q, n);
        }
    }

    private static Quad<float> Load(int a, long q, long n, ArrayView<Quad<float>> regs,
        ArrayView<float> x0, long s0, ArrayView<float> x1, long s1, ArrayView<float> x2, long s2, ArrayView<float> x3, long s3)
    {
        if (a >= 0)
        {
            return regs[a];
        }
        return a switch
        {
            -1 => Quad<float>.Read(x0, s0, q, n),
            -2 => Quad<float>.Read(x1, s1, q, n),
            -3 => Quad<float>.Read(x2, s2, q, n),
            _ => Quad<float>.Read(x3, s3, q, n),
        };
    }
}

public sealed partial class GpuDevice
{
    // Each program's chain kernel (null: it takes the interpreter), by the program's text.
    private readonly Dictionary<string, Action<KernelConfig, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long>?> _chains = new();

    /// <summary>Whether fused programs run as kernels of their own (<see cref="ChainKernels"/>); false runs the interpreter (MLX_GPU_FUSED=interpret).</summary>
    public bool UseChainKernels { get; set; } = Environment.GetEnvironmentVariable("MLX_GPU_FUSED") != "interpret";

    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    [UnconditionalSuppressMessage("Trimming", "IL2076", Justification = "ILGPU emits code at run time: this assembly never runs trimmed or under NativeAOT.")]
    private Action<KernelConfig, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long>? ChainKernel(int[] program)
    {
        if (!UseChainKernels)
        {
            return null;
        }
        string key = string.Join(",", program);
        if (!_chains.TryGetValue(key, out var chain))
        {
            var type = ChainKernels.ChainType(program);
            chain = type == null ? null : Kernel("fused:" + key, a => a.LoadStreamKernel(
                typeof(ChainKernels).GetMethod(nameof(ChainKernels.Run))!.MakeGenericMethod(type)
                    .CreateDelegate<Action<ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long>>()));
            _chains[key] = chain;
        }
        return chain;
    }

    public static int FusedMaxSteps => FusedKernels.MaxSteps;

    public static int FusedMaxInputs => FusedKernels.MaxInputs;

    /// <summary>
    /// Runs a fused float32 program (see <see cref="FusedKernels.Run"/>) over <paramref name="n"/> elements; inputs are
    /// contiguous (or scalar, flagged in <paramref name="scalar"/>).
    /// </summary>
    public unsafe void Fused(int[] program, GpuMemory[] inputs, bool[] scalar, GpuMemory output, long n)
    {
        if (n == 0)
        {
            return;
        }
        int steps = program.Length / 4;
        if (steps > FusedKernels.MaxSteps || inputs.Length > FusedKernels.MaxInputs || inputs.Length == 0)
        {
            throw new ArgumentException($"A fused kernel takes 1 to {FusedKernels.MaxInputs} inputs and at most {FusedKernels.MaxSteps} steps.");
        }
        ArrayView<float> View(int k) => inputs[Math.Min(k, inputs.Length - 1)].View<float>();
        long Step(int k) => k < inputs.Length && !scalar[k] ? 1 : 0;
        var chain = ChainKernel(program);
        if (chain != null)
        {
            chain(GridFor((n + 3) / 4), View(0), Step(0), View(1), Step(1), View(2), Step(2), View(3), Step(3), output.View<float>(), n);
            return;
        }
        var code = Allocate(program.Length * sizeof(int));
        fixed (int* p = program)
        {
            Upload(code, (nint)p, program.Length * sizeof(int));
        }
        var kernel = Kernel("fused", a => a.LoadStreamKernel<ArrayView<int>, int, ArrayView<float>, long, ArrayView<float>, long,
            ArrayView<float>, long, ArrayView<float>, long, ArrayView<float>, long>(FusedKernels.Run));
        kernel(GridFor((n + 3) / 4), code.View<int>(), steps, View(0), Step(0), View(1), Step(1), View(2), Step(2), View(3), Step(3), output.View<float>(), n);
        Release(code);
    }
}
