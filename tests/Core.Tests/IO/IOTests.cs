using Mlx.Formats;

namespace Mlx.Core.Tests.IO;

public class IOTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mlx-io-");

    public void Dispose() => _dir.Delete(true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private static string Fixture(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlx.Managed.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, "tests", "Formats.Tests", "data", relative);
    }

    private static Dictionary<string, MxArray> EveryDType() => new()
    {
        ["b"] = Mx.Array(new[] { true, false, true }),
        ["u8"] = Mx.Array(new byte[] { 0, 7, 255 }),
        ["u16"] = Mx.Array(new ushort[] { 1, 65535 }),
        ["u32"] = Mx.Array(new uint[] { 1, 4000000000 }),
        ["u64"] = Mx.Array(new ulong[] { 1, ulong.MaxValue }),
        ["i8"] = Mx.Array(new sbyte[] { -128, 5, 127 }),
        ["i16"] = Mx.Array(new short[] { -300, 300 }),
        ["i32"] = Mx.Array(new[] { -1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }),
        ["i64"] = Mx.Array(new[] { long.MinValue, long.MaxValue }),
        ["f16"] = Mx.Array(new[] { (Half)1.5, (Half)(-2) }),
        ["f32"] = Mx.Transpose(Mx.Array(new float[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 })),
        ["f64"] = Mx.Array(new[] { Math.PI, -0.0 }),
        ["bf16"] = Mx.Array(new[] { (BFloat16)3.0f, (BFloat16)(-0.5f) }),
        ["c64"] = Mx.Array(new[] { new Complex64(1, -2) }),
        ["empty"] = Mx.Zeros(new[] { 0, 3 }),
        ["scalar"] = Mx.Array(2.5f),
    };

    private static void AssertSame(MxArray expected, MxArray actual)
    {
        Assert.Equal(expected.DType, actual.DType);
        Assert.Equal(expected.Shape, actual.Shape);
        var e = Mx.Contiguous(expected);
        var a = Mx.Contiguous(actual);
        Mx.Eval(e, a);
        Assert.Equal(Mx.View(Mx.Flatten(e), DType.UInt8).ToArray<byte>(), Mx.View(Mx.Flatten(a), DType.UInt8).ToArray<byte>());
    }

    [Fact]
    public void NpzAndSafetensorsRoundTripEveryDType()
    {
        var arrays = EveryDType();
        Mx.Savez(P("a.npz"), arrays);
        Mx.SavezCompressed(P("c.npz"), arrays);
        var forSafetensors = arrays.Where(kv => kv.Key != "c64").ToDictionary(kv => kv.Key, kv => kv.Value);
        Mx.SaveSafetensors(P("s.safetensors"), forSafetensors, new Dictionary<string, string> { ["format"] = "mlx" });
        foreach (var file in new[] { "a.npz", "c.npz" })
        {
            var loaded = Mx.Load(P(file));
            Assert.Equal(arrays.Keys.Order(), loaded.Keys.Order());
            foreach (var (k, v) in arrays) AssertSame(v, loaded[k]);
        }
        var st = Mx.Load(P("s.safetensors"), out var metadata);
        Assert.Equal("mlx", metadata["format"].AsString());
        foreach (var (k, v) in forSafetensors) AssertSame(v, st[k]);
    }

    [Fact]
    public void NpyAndGgufRoundTrip()
    {
        var x = Mx.Array(new float[] { 1, 2, 3, 4, 5, 6 }, new[] { 3, 2 });
        Mx.Save(P("x"), x);
        AssertSame(x, Mx.LoadArray(P("x.npy")));
        var tensors = new Dictionary<string, MxArray> { ["w"] = x, ["i"] = Mx.Array(new[] { 1, 2 }), ["h"] = Mx.Array(new[] { (Half)1, (Half)2 }) };
        Mx.SaveGguf(P("m.gguf"), tensors, new Dictionary<string, MetadataValue> { ["general.name"] = MetadataValue.FromString("t") });
        var loaded = Mx.Load(P("m.gguf"), out var meta);
        Assert.Equal("t", meta["general.name"].AsString());
        foreach (var (k, v) in tensors) AssertSame(v, loaded[k]);
    }

    [Fact]
    public void FixturesWrittenByMlxAndNumpyLoad()
    {
        var st = Mx.Load(Fixture("mlx/st_mixed.safetensors"));
        Assert.Equal(17, st.Count);
        var be = Mx.LoadArray(Fixture("numpy_torch/np_bigendian_f4_2x3.npy"));
        Assert.Equal(DType.Float32, be.DType);
        Assert.Equal(new[] { 2, 3 }, be.Shape);
        var fortran = Mx.LoadArray(Fixture("numpy_torch/np_fortran_i4_3x4.npy"));
        Assert.Equal(new[] { 3, 4 }, fortran.Shape);
        var gguf = Mx.Load(Fixture("mlx/gguf_mixed.gguf"));
        Assert.Equal(7, gguf.Count);
        var e = Assert.Throws<ModelFormatException>(() => Mx.Load(Fixture("numpy_torch/torch_state_dict.pt")));
        Assert.Contains("pickle", e.Message);
    }

    [Fact]
    public void LoadingIsLazyAndAFileChangedUnderneathFailsCleanly()
    {
        var x = Mx.Arange(0, 1000, 1, DType.Float32);
        Mx.SaveSafetensors(P("lazy.safetensors"), new Dictionary<string, MxArray> { ["x"] = x });
        var loaded = Mx.Load(P("lazy.safetensors"))["x"];
        Assert.False(loaded.IsEvaluated);
        // Truncate the file before the data is read: the evaluation refuses, the process goes on.
        using (var f = new FileStream(P("lazy.safetensors"), FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.SetLength(100);
        }
        Assert.Throws<ModelFormatException>(() => Mx.Eval(loaded));
        Mx.SaveSafetensors(P("again.safetensors"), new Dictionary<string, MxArray> { ["x"] = x });
        Assert.Equal(x.ToArray<float>(), Mx.Load(P("again.safetensors"))["x"].ToArray<float>());
    }

    [Fact]
    public void WritersLeaveNothingHalfWritten()
    {
        // A dtype GGUF cannot hold: refused, and neither the file nor a temporary one stays behind.
        Assert.ThrowsAny<ArgumentException>(() => Mx.SaveGguf(P("bad.gguf"), new Dictionary<string, MxArray> { ["c"] = Mx.Array(new[] { new Complex64(1, 1) }) }));
        Assert.Empty(_dir.GetFiles());
    }
}

[Collection("Memory")]
public class LoadBudgetTests
{
    [Fact]
    public void LoadingPastTheMemoryLimitFailsBeforeAllocating()
    {
        var dir = Directory.CreateTempSubdirectory("mlx-io-");
        try
        {
            string path = Path.Combine(dir.FullName, "big.safetensors");
            Mx.SaveSafetensors(path, new Dictionary<string, MxArray> { ["x"] = Mx.Zeros(new[] { 1 << 20 }) });
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long before = Mx.Memory.ActiveBytes;
            Mx.Memory.SetMemoryLimit(before + (1 << 20));
            try
            {
                var e = Assert.Throws<MemoryLimitExceededException>(() => Mx.Load(path));
                Assert.Equal(4L << 20, e.Requested);
            }
            finally
            {
                Mx.Memory.SetMemoryLimit(0);
            }
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
