using System.Text;
using Mlx.Formats.Internal;

namespace Mlx.Formats.Tests;

/// <summary>Every dtype through every writer and back through the readers.</summary>
public class RoundTripTests
{
    private static TensorData Make(string name, TensorDType dtype, long[] shape, int seed)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = new byte[count * dtype.ItemSize()];
        new Random(seed).NextBytes(data);
        if (dtype == TensorDType.Bool)
        {
            for (int i = 0; i < data.Length; i++)
            {
                data[i] &= 1;
            }
        }
        return new TensorData(name, dtype, shape, data);
    }

    private static List<TensorData> AllDTypes(params TensorDType[] only)
    {
        var list = new List<TensorData>();
        int seed = 1;
        foreach (TensorDType d in only.Length > 0 ? only : Enum.GetValues<TensorDType>())
        {
            list.Add(Make("t_" + d.MlxName(), d, [2, 3], seed++));
            list.Add(Make("s_" + d.MlxName(), d, [], seed++));
            list.Add(Make("e_" + d.MlxName(), d, [0, 4], seed++));
            list.Add(Make("r4_" + d.MlxName(), d, [2, 1, 3, 2], seed++));
        }
        return list;
    }

    private static void AssertSame(ModelFile file, IEnumerable<TensorData> expected)
    {
        var list = expected.ToList();
        Assert.Equal(list.Count, file.Tensors.Count);
        foreach (TensorData t in list)
        {
            Assert.True(file.TryGetTensor(t.Name, out TensorEntry e), t.Name);
            Assert.Equal(t.DType, e.DType);
            Assert.Equal(t.DType.MlxName(), e.TypeName);
            Assert.Equal(t.Shape, e.Shape);
            Assert.Equal(t.Data.ToArray(), file.ReadTensor(e));
            Assert.Equal(t.Data.ToArray(), file.ReadRawBytes(e));
        }
    }

    public static TheoryData<TensorDType> DTypes()
    {
        var data = new TheoryData<TensorDType>();
        foreach (TensorDType d in Enum.GetValues<TensorDType>())
        {
            data.Add(d);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Npy(TensorDType dtype)
    {
        foreach (TensorData t in AllDTypes(dtype))
        {
            string path = Path.Combine(TestUtil.TempDir(), "a.npy");
            NpyWriter.Write(path, t.DType, t.Shape, t.Data);
            byte[] bytes = File.ReadAllBytes(path);
            int headerEnd = bytes.Length - t.Data.Length;
            Assert.Equal(0, headerEnd % 64);
            Assert.Equal((byte)'\n', bytes[headerEnd - 1]);
            using ModelFile file = ModelFile.Open(path);
            Assert.Equal(ModelFileFormat.Npy, file.Format);
            AssertSame(file, [t with { Name = "" }]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Npz(bool compress)
    {
        List<TensorData> all = AllDTypes();
        all.Add(Make("with/slash and ünïcode", TensorDType.Float32, [3], 99));
        string path = Path.Combine(TestUtil.TempDir(), "a.npz");
        NpzWriter.Write(path, all, compress);
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal(ModelFileFormat.Npz, file.Format);
        AssertSame(file, all);
        Assert.All(file.Tensors, e => Assert.Equal(compress, e.Deflated is not null));
    }

    [Fact]
    public void NpzChunkedRawReadsOfDeflatedMembers()
    {
        TensorData t = Make("big", TensorDType.Float32, [1000], 5);
        string path = Path.Combine(TestUtil.TempDir(), "a.npz");
        NpzWriter.Write(path, [t], compress: true);
        using ModelFile file = ModelFile.Open(path);
        TensorEntry e = file.Tensors[0];
        var part = new byte[100];
        file.ReadRawBytes(e, 1000, part);
        Assert.Equal(t.Data.Slice(1000, 100).ToArray(), part);
    }

    [Fact]
    public void Safetensors()
    {
        List<TensorData> all = AllDTypes();
        var metadata = new Dictionary<string, string> { ["format"] = "mlx", ["note"] = "ünïcode \"quoted\"" };
        string path = Path.Combine(TestUtil.TempDir(), "a.safetensors");
        SafetensorsWriter.Write(path, all, metadata);
        using (ModelFile file = ModelFile.Open(path))
        {
            Assert.Equal(ModelFileFormat.Safetensors, file.Format);
            AssertSame(file, all);
            Assert.Equal(metadata, file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value.AsString()));
            Assert.Equal(all.Select(t => t.Name).Order(StringComparer.Ordinal), file.Tensors.Select(t => t.Name));
        }
        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(0UL, BitConverter.ToUInt64(bytes) % 8);
        // Without metadata there is no __metadata__ key at all.
        SafetensorsWriter.Write(path, all.Take(1));
        Assert.DoesNotContain("__metadata__", Encoding.UTF8.GetString(File.ReadAllBytes(path)));
    }

    [Fact]
    public void Gguf()
    {
        TensorDType[] supported = [TensorDType.Float32, TensorDType.Float16, TensorDType.BFloat16, TensorDType.Float64,
            TensorDType.Int8, TensorDType.Int16, TensorDType.Int32, TensorDType.Int64];
        List<TensorData> all = AllDTypes(supported);
        var metadata = new List<KeyValuePair<string, MetadataValue>>
        {
            new("general.architecture", MetadataValue.FromString("llama")),
            new("b", MetadataValue.FromBool(true)),
            new("u8", MetadataValue.FromUInt(MetadataKind.UInt8, 255)),
            new("i8", MetadataValue.FromInt(MetadataKind.Int8, -128)),
            new("u16", MetadataValue.FromUInt(MetadataKind.UInt16, 65535)),
            new("i16", MetadataValue.FromInt(MetadataKind.Int16, -32768)),
            new("u32", MetadataValue.FromUInt(MetadataKind.UInt32, uint.MaxValue)),
            new("i32", MetadataValue.FromInt(MetadataKind.Int32, int.MinValue)),
            new("u64", MetadataValue.FromUInt(MetadataKind.UInt64, ulong.MaxValue)),
            new("i64", MetadataValue.FromInt(MetadataKind.Int64, long.MinValue)),
            new("f32", MetadataValue.FromFloat(MetadataKind.Float32, 1.5)),
            new("f64", MetadataValue.FromFloat(MetadataKind.Float64, Math.PI)),
            new("strings", MetadataValue.FromStrings(["a", "", "ü"])),
            new("bools", MetadataValue.FromBools([true, false])),
            new("ints", MetadataValue.FromInts(MetadataKind.Int32, [1, -2, 3])),
            new("uints", MetadataValue.FromUInts(MetadataKind.UInt64, [0, ulong.MaxValue])),
            new("floats", MetadataValue.FromFloats(MetadataKind.Float32, [0.5, -1])),
            new("empty", MetadataValue.FromInts(MetadataKind.Int16, [])),
        };
        string path = Path.Combine(TestUtil.TempDir(), "a.gguf");
        GgufWriter.Write(path, all, metadata);
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal(ModelFileFormat.Gguf, file.Format);
        AssertSame(file, all);
        Assert.Equal(metadata.Count, file.Metadata.Count);
        foreach ((string key, MetadataValue expected) in metadata)
        {
            MetadataValue actual = file.Metadata[key];
            Assert.Equal(expected.Kind, actual.Kind);
            Assert.Equal(expected.ElementKind, actual.ElementKind);
            Assert.Equal(expected.ToDisplayString(100), actual.ToDisplayString(100));
        }
        Assert.All(file.Tensors, t => Assert.Equal(0, (t.DataOffset) % 32));
    }

    [Fact]
    public void GgufWriterRefusesWhatGgufCannotHold()
    {
        string path = Path.Combine(TestUtil.TempDir(), "a.gguf");
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Make("u", TensorDType.UInt8, [2], 1)]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Make("r5", TensorDType.Float32, [1, 1, 1, 1, 1], 1)]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Make(new string('n', 64), TensorDType.Float32, [1], 1)]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [], [new("general.alignment", MetadataValue.FromUInt(MetadataKind.UInt32, 3))]));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void GgufCustomAlignment()
    {
        List<TensorData> all = AllDTypes(TensorDType.Int8);
        string path = Path.Combine(TestUtil.TempDir(), "a.gguf");
        GgufWriter.Write(path, all, [new("general.alignment", MetadataValue.FromUInt(MetadataKind.UInt32, 64))]);
        using ModelFile file = ModelFile.Open(path);
        AssertSame(file, all);
        Assert.All(file.Tensors, t => Assert.Equal(0, t.DataOffset % 64));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void NpyVersions2And3Read(int major)
    {
        byte[] data = BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray();
        string path = TestUtil.WriteTemp(TestUtil.Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, major), ".npy");
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal(data, file.ReadTensor(file.Tensors[0]));
    }

    [Fact]
    public void NpyBigEndianAndFortranTogether()
    {
        // 2x3 int16 values 0..5 in C order, stored column-major and big-endian.
        short[] fortran = [0, 3, 1, 4, 2, 5];
        byte[] data = fortran.SelectMany(v => new[] { (byte)(v >> 8), (byte)v }).ToArray();
        string path = TestUtil.WriteTemp(TestUtil.Npy("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", data), ".npy");
        using ModelFile file = ModelFile.Open(path);
        byte[] c = file.ReadTensor(file.Tensors[0]);
        Assert.Equal(new short[] { 0, 1, 2, 3, 4, 5 }, Enumerable.Range(0, 6).Select(i => BitConverter.ToInt16(c, 2 * i)));
    }

    [Fact]
    public void BigEndianComplexSwapsEachHalf()
    {
        byte[] data = [.. BitConverter.GetBytes(1f).Reverse(), .. BitConverter.GetBytes(-2f).Reverse()];
        string path = TestUtil.WriteTemp(TestUtil.Npy("{'descr': '>c8', 'fortran_order': False, 'shape': (1,), }", data), ".npy");
        using ModelFile file = ModelFile.Open(path);
        byte[] c = file.ReadTensor(file.Tensors[0]);
        Assert.Equal(1f, BitConverter.ToSingle(c, 0));
        Assert.Equal(-2f, BitConverter.ToSingle(c, 4));
    }

    [Fact]
    public void FailedWriteLeavesNothingHalfWritten()
    {
        string dir = TestUtil.TempDir();
        string path = Path.Combine(dir, "model.safetensors");
        File.WriteAllText(path, "original");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[1000]);
            throw new IOException("disk full");
        }));
        Assert.Equal("original", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void WritersRefuseBadInput()
    {
        string dir = TestUtil.TempDir();
        var wrongSize = new TensorData("x", TensorDType.Float32, [2], new byte[7]);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(Path.Combine(dir, "a.safetensors"), [wrongSize]));
        Assert.Throws<ArgumentException>(() => NpzWriter.Write(Path.Combine(dir, "a.npz"), [Make("x", TensorDType.Int8, [1], 1), Make("x", TensorDType.Int8, [1], 2)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(Path.Combine(dir, "b.safetensors"), [Make("__metadata__", TensorDType.Int8, [1], 1)]));
        Assert.Empty(Directory.GetFiles(dir));
    }
}
