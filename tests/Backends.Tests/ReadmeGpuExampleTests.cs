namespace Mlx.Backends.Tests;

/// <summary>The README's GPU snippet, kept compiling and checked (on ILGPU's CPU accelerator here).</summary>
public sealed class ReadmeGpuExampleTests
{
    [Fact]
    public void GpuSnippetWorks()
    {
        var gpu = Backends.Gpu;
        var a = Mx.Random.Normal(new[] { 256, 256 }, key: Mx.Random.Key(1));
        var b = Mx.Matmul(a, a, gpu);
        var c = Mx.Add(b, a, Device.Cpu);
        MxArray d;
        using (Mx.StreamScope(gpu))
        {
            d = Mx.Softmax(Mx.Multiply(c, 0.1), axis: -1);
        }
        // Each of the 256 softmax rows sums to 1.
        Assert.Equal(256f, Mx.Sum(d).Item<float>(), 2);
        var want = Mx.Softmax(Mx.Multiply(Mx.Add(Mx.Matmul(a, a), a), 0.1), axis: -1);
        H.Close(want.ToArray<float>(), d, 1e-4, 1e-6, "snippet");
        Assert.False(string.IsNullOrEmpty(Mx.DeviceInfo(gpu).Backend));
    }
}
