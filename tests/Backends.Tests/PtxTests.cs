using Mlx.Kernels.Gpu;

namespace Mlx.Backends.Tests;

/// <summary>
/// Every kernel the GPU backend loads must also compile for CUDA: run one op of each family on the GPU (ILGPU's CPU
/// accelerator here), then compile every loaded kernel, with its type arguments, to PTX for sm_80.
/// </summary>
[Collection(nameof(SerialCollection))]
public sealed class PtxTests
{
    private static readonly Device Gpu = Backends.Gpu;

    private static MxArray QuantizedProduct(MxArray w)
    {
        var (q, s, b) = Mx.Quantize(w, 32, 3);
        var (qf, sf, _) = Mx.Quantize(w, mode: QuantizationMode.Mxfp4);
        var affine = Mx.QuantizedMatmul(Mx.Ones(new[] { 2, 64 }), q, s, b, true, 32, 3, stream: Gpu);
        var floating = Mx.QuantizedMatmul(Mx.Ones(new[] { 2, 64 }), qf, sf, null, true, mode: QuantizationMode.Mxfp4, stream: Gpu);
        var many = Mx.QuantizedMatmul(Mx.Ones(new[] { 9, 64 }), qf, sf, null, true, mode: QuantizationMode.Mxfp4, stream: Gpu);
        return Mx.Add(Mx.Add(affine, floating, Gpu), Mx.Sum(many, 0, stream: Gpu), Gpu);
    }

    private static void RunEveryFamily()
    {
        var x = Mx.Random.Normal(new[] { 3, 40, 40 }, key: Mx.Random.Key(1));
        var h = Mx.AsType(x, DType.Float16);
        var i = Mx.AsType(Mx.Multiply(x, 10.0), DType.Int32);
        var z = Mx.Array(new[] { new Complex64(1, 2), new Complex64(-0.5f, 3) });
        var outputs = new List<MxArray>
        {
            Mx.Exp(x, Gpu), Mx.Erfinv(Mx.Tanh(x), Gpu), Mx.Add(h, h, Gpu), Mx.Multiply(x, 2.0, Gpu), Mx.Less(x, 0.5, Gpu),
            Mx.Where(Mx.Greater(x, 0, Gpu), x, Mx.Negative(x), Gpu), Mx.AsType(x, DType.BFloat16, Gpu), Mx.IsNaN(x, Gpu),
            Mx.Remainder(i, Mx.Array(7), Gpu), Mx.Abs(Mx.AsType(i, DType.Int64), Gpu), Mx.LeftShift(Mx.AsType(i, DType.UInt32), Mx.Array(2u), Gpu),
            Mx.Sum(x, axis: 1, stream: Gpu), Mx.Max(x, stream: Gpu), Mx.Prod(i, axis: 0, stream: Gpu), Mx.All(Mx.Greater(x, -9), stream: Gpu),
            Mx.ArgMax(x, axis: 2, stream: Gpu), Mx.Cumsum(x, axis: 1, stream: Gpu), Mx.Logcumsumexp(x, axis: 2, stream: Gpu),
            Mx.Softmax(x, axis: -1, stream: Gpu), Mx.Logsumexp(x, axis: 1, stream: Gpu),
            Mx.Matmul(x, Mx.SwapAxes(x, 1, 2), Gpu), Mx.Matmul(Mx.Reshape(x, new[] { 120, 40 }), Mx.Reshape(x, new[] { 40, 120 }), Gpu),
            Mx.Conv2d(Mx.Reshape(x, new[] { 1, 40, 40, 3 }), Mx.Ones(new[] { 4, 3, 3, 3 }), 1, 1, stream: Gpu),
            Mx.Take(x, Mx.Array(new[] { 2, 0 }), 1, Gpu), Mx.TakeAlongAxis(x, Mx.Zeros(new[] { 3, 1, 40 }, DType.Int32), 1, Gpu),
            Mx.PutAlongAxis(x, Mx.Zeros(new[] { 3, 1, 40 }, DType.Int32), Mx.Ones(new[] { 3, 1, 40 }), 1, Gpu),
            Mx.Concatenate(new[] { x, x }, 0, Gpu), Mx.Sort(x, 2, Gpu), Mx.ArgSort(i, 1, Gpu),
            Mx.Divide(z, z, Gpu), Mx.Sqrt(z, Gpu), Mx.NotEqual(z, z, Gpu),
            Mx.Random.Uniform(new[] { 33 }, key: Mx.Random.Key(3), stream: Gpu), Mx.Random.Normal(new[] { 33 }, key: Mx.Random.Key(4), stream: Gpu),
            QuantizedProduct(Mx.Reshape(x, new[] { 75, 64 })),
        };
        var g = Mx.Grad(a => Mx.Sum(Mx.Conv2d(a, Mx.Ones(new[] { 2, 3, 3, 3 }), 1, 1)));
        using (Mx.StreamScope(Gpu))
        {
            outputs.Add(g(Mx.Reshape(x, new[] { 1, 40, 40, 3 })));
            var fused = Mx.Compile(a => new[] { Mx.Add(Mx.Multiply(Mx.Exp(a[0]), a[1]), 1.0) });
            outputs.Add(fused(new[] { x, x })[0]);
            var s = Mx.Zeros(new[] { 10, 4 });
            outputs.Add(Mx.ScatterAdd(s, Mx.Array(new[] { 1, 1, 3 }), Mx.Ones(new[] { 3, 4 }), 0));
            outputs.Add(Mx.SliceUpdate(s, Mx.Ones(new[] { 2, 4 }), new[] { 2, 0 }, new[] { 4, 4 }));
        }
        Mx.Eval(outputs);
    }

    [Fact]
    public void EveryLoadedKernelCompilesToPtx()
    {
        RunEveryFamily();
        var kernels = GpuRuntime.Device.LoadedKernelMethods.Concat(PtxCheck.GpuGroupKernels).Distinct().ToArray();
        Assert.True(kernels.Length >= 40, $"only {kernels.Length} kernels were loaded");
        var compiled = PtxCheck.Compile(kernels);
        Assert.All(compiled, k => Assert.Contains(".entry", k.Ptx));
        // ILGPU lowers float32 exp, log, sin, cos and tanh to PTX's approximate instructions (errors up to ~2^-11); the
        // kernels avoid them (Exact32, or double), so a GPU's results stay within an ulp or two of the CPU's.
        var approximate = compiled.Where(k => k.Ptx.Contains(".approx")).Select(k => $"{k.Kernel.DeclaringType?.Name}.{k.Kernel.Name}: "
            + string.Join(", ", k.Ptx.Split('\n').Where(l => l.Contains(".approx")).Select(l => l.Trim().Split('\t', ' ')[0]).Distinct()));
        Assert.Empty(approximate);
    }

    [Fact]
    public void MemoryBoundKernelsReadAndWriteFourFloatsPerAccess()
    {
        var kernels = PtxCheck.VectorAccessKernels.ToArray();
        var compiled = PtxCheck.Compile(kernels.Select(k => k.Kernel));
        for (int i = 0; i < kernels.Length; i++)
        {
            string name = $"{kernels[i].Kernel.DeclaringType?.Name}.{kernels[i].Kernel.Name}", ptx = compiled[i].Ptx;
            Assert.True(ptx.Contains("ld.v4.f32"), $"{name}: no 16-byte loads");
            Assert.True(!kernels[i].Writes || ptx.Contains("st.v4.f32"), $"{name}: no 16-byte stores");
        }
    }
}
