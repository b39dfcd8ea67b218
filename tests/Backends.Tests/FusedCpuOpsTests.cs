namespace Mlx.Backends.Tests;

/// <summary>
/// Ops with a one-kernel CPU primitive and no GPU kernel (layer/RMS norm, log-softmax, logsumexp, the activations,
/// partition, top-k) build their GPU-capable composition when placed on the GPU, with the CPU's values.
/// </summary>
public sealed class FusedCpuOpsTests
{
    [Fact]
    public void OnTheGpuTheCompositionRunsWithTheCpusValues()
    {
        var r = new Random(9);
        var x = Mx.Array(Enumerable.Range(0, 37 * 65).Select(_ => (float)(r.NextDouble() * 6 - 3)).ToArray(), new[] { 37, 65 });
        var w = Mx.Array(Enumerable.Range(0, 65).Select(_ => (float)r.NextDouble()).ToArray());
        var b = Mx.Array(Enumerable.Range(0, 65).Select(_ => (float)r.NextDouble()).ToArray());
        var ops = new (string CpuName, Func<MxArray> Op)[]
        {
            ("LayerNorm", () => Mx.Fast.LayerNorm(x, w, b)),
            ("RMSNorm", () => Mx.Fast.RmsNorm(x, w)),
            ("LogSoftmax", () => Nn.Nn.LogSoftmax(x)),
            ("LogSumExp", () => Mx.Logsumexp(x, 1, keepDims: true)),
            ("Gelu", () => Nn.Nn.Gelu(x)),
            ("Silu", () => Nn.Nn.Silu(x)),
            ("TopK", () => Mx.TopK(x, 5, 1)),
        };
        foreach (var (cpuName, op) in ops)
        {
            MxArray cpu, gpu;
            using (Mx.StreamScope(Device.Cpu)) cpu = op();
            using (Mx.StreamScope(Backends.Gpu)) gpu = op();
            Assert.Equal(cpuName, cpu.Primitive!.Name);
            Assert.NotEqual(cpu.Primitive!.Name, gpu.Primitive!.Name);
            var c = cpu.ToArray<float>();
            var g = gpu.ToArray<float>();
            // The CPU's gelu takes MLX's float erf, the GPU composition the exact one: 1.5e-7 |x| apart at most.
            for (int i = 0; i < c.Length; i++) Assert.True(Math.Abs(c[i] - g[i]) <= 2e-6 * (1 + Math.Abs(c[i])), $"{cpuName} [{i}]: gpu {g[i]} cpu {c[i]}");
        }
    }
}
