namespace Mlx.Core.Tests;

/// <summary>Array construction, Zeros/Ones/Full, Arange, Linspace, Eye/Identity/Tri/Tril/Triu, Meshgrid, AsType, shape checks.</summary>
public class CreationTests
{
    public static IEnumerable<object[]> AllTypes() => Enum.GetValues<DType>().Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void ZerosOnesFullInEveryType(DType t)
    {
        foreach (int n in H.OddSizes)
        {
            var z = Mx.Zeros(new[] { n }, t);
            Assert.Equal(t, z.DType);
            H.Shape(new[] { n }, z);
            Assert.All(z.ToArray<double>(), v => Assert.Equal(0.0, v));
            Assert.All(Mx.Ones(new[] { n }, t).ToArray<double>(), v => Assert.Equal(1.0, v));
            Assert.All(Mx.Full(new[] { n }, 3.0, t).ToArray<double>(), v => Assert.Equal(t == DType.Bool ? 1.0 : 3.0, v));
            Assert.Equal(n * t.Size(), Mx.Zeros(new[] { n }, t).NBytes);
        }
        H.Shape(new[] { 2, 3, 4 }, Mx.Ones(new[] { 2, 3, 4 }, t));
        Assert.Equal(t, Mx.ZerosLike(Mx.Ones(new[] { 2 }, t)).DType);
        Assert.Equal(t, Mx.OnesLike(Mx.Ones(new[] { 2 }, t)).DType);
    }

    [Fact]
    public void FullBroadcastsAnArray()
    {
        var f = Mx.Full(new[] { 2, 3 }, Mx.Array(new[] { 1, 2, 3 }));
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, f.ToArray<int>());
        Assert.Equal(DType.Int32, f.DType);
        Assert.Equal(DType.Float16, Mx.Full(new[] { 2 }, Mx.Array(new[] { 1, 2 }), DType.Float16).DType);
        Assert.Equal(new[] { -1.5f, -1.5f }, Mx.FullLike(Mx.Zeros(new[] { 2 }), -1.5).ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.Full(new[] { 2, 2 }, Mx.Array(new[] { 1, 2, 3 })));
    }

    [Fact]
    public void ArrayFromDataEveryClrType()
    {
        Assert.Equal(DType.Bool, Mx.Array(new[] { true }).DType);
        Assert.Equal(DType.UInt8, Mx.Array(new byte[] { 1 }).DType);
        Assert.Equal(DType.UInt16, Mx.Array(new ushort[] { 1 }).DType);
        Assert.Equal(DType.UInt32, Mx.Array(new uint[] { 1 }).DType);
        Assert.Equal(DType.UInt64, Mx.Array(new ulong[] { 1 }).DType);
        Assert.Equal(DType.Int8, Mx.Array(new sbyte[] { 1 }).DType);
        Assert.Equal(DType.Int16, Mx.Array(new short[] { 1 }).DType);
        Assert.Equal(DType.Int32, Mx.Array(new[] { 1 }).DType);
        Assert.Equal(DType.Int64, Mx.Array(new[] { 1L }).DType);
        Assert.Equal(DType.Float16, Mx.Array(new[] { (Half)1 }).DType);
        Assert.Equal(DType.Float32, Mx.Array(new[] { 1f }).DType);
        Assert.Equal(DType.Float64, Mx.Array(new[] { 1.0 }).DType);
        Assert.Equal(DType.BFloat16, Mx.Array(new[] { (BFloat16)1f }).DType);
        Assert.Equal(DType.Complex64, Mx.Array(new[] { new Complex64(1, 2) }).DType);
        // A C# double scalar becomes float32, as a Python float does in MLX.
        Assert.Equal(DType.Float32, Mx.Array(2.5).DType);
        Assert.Equal(DType.Float64, Mx.Array(2.5, DType.Float64).DType);
        Assert.Equal(new Complex64(1, 2), Mx.Array(new[] { new Complex64(1, 2) }).Item<Complex64>());
        Assert.Equal((Half)0.5, Mx.Array(new[] { (Half)0.5 }).Item<Half>());
        Assert.Equal(0.5f, (float)Mx.Array(new[] { (BFloat16)0.5f }).Item<BFloat16>());
        Assert.Throws<ArgumentException>(() => Mx.Array(new[] { 1, 2, 3 }, new[] { 2, 2 }));
        Assert.Throws<InvalidOperationException>(() => Mx.Array(new[] { 1, 2 }).Item<int>());
        var copy = new[] { 1, 2, 3 };
        var a = Mx.Array(copy);
        copy[0] = 99;
        Assert.Equal(1, a.ToArray<int>()[0]);
    }

    [Fact]
    public void FromBytesLittleEndian()
    {
        var a = Mx.FromBytes(new byte[] { 1, 0, 0, 0, 0, 0, 0x80, 0x3F }, new[] { 2 }, DType.Float32);
        Assert.Equal(new[] { 1.4e-45f, 1f }, a.ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.FromBytes(new byte[3], new[] { 1 }, DType.Float32));
        // Nonzero bytes read as bool are true, and equal to true.
        var b = Mx.FromBytes(new byte[] { 0, 1, 2, 255 }, new[] { 4 }, DType.Bool);
        Assert.Equal(new[] { false, true, true, true }, b.ToArray<bool>());
        Assert.Equal(3, Mx.Sum(b).Item<int>());
    }

    [Fact]
    public void AsTypeConversions()
    {
        var f = Mx.Array(new[] { -1.7f, -0.5f, 0f, 0.5f, 2.9f, 300f });
        Assert.Equal(new[] { -1, 0, 0, 0, 2, 300 }, f.AsType(DType.Int32).ToArray<int>());
        Assert.Equal(new[] { true, true, false, true, true, true }, f.AsType(DType.Bool).ToArray<bool>());
        Assert.Equal(new[] { 1.0, 0.0 }, Mx.Array(new[] { true, false }).AsType(DType.Float64).ToArray<double>());
        Assert.Equal(new[] { -1, 0, 0, 0, 2, 300 }, f.AsType(DType.Int64).ToArray<int>());
        Assert.Equal(new byte[] { 255, 1 }, Mx.Array(new[] { -1, 257 }).AsType(DType.UInt8).ToArray<byte>());
        Assert.Equal(new[] { 3f }, Mx.Array(new[] { new Complex64(3, 4) }).AsType(DType.Float32).ToArray<float>());
        Assert.Equal(new Complex64(2, 0), Mx.Array(new[] { 2 }).AsType(DType.Complex64).Item<Complex64>());
        // float32 -> bfloat16 rounds to nearest, ties to even (1 + 3/256 is halfway between 1 + 1/128 and 1 + 2/128); -> float16 too.
        Assert.Equal(1.015625, Mx.Array(new[] { 1.01171875f }).AsType(DType.BFloat16).AsType(DType.Float64).Item<double>(), 10);
        Assert.Equal(1.0, Mx.Array(new[] { 1.0 + Math.Pow(2, -12) }).AsType(DType.Float16).AsType(DType.Float64).Item<double>());
        Assert.True(float.IsNaN(Mx.Array(new[] { float.NaN }).AsType(DType.BFloat16).AsType(DType.Float32).Item<float>()));
        Assert.True(Mx.Array(new[] { float.NaN }).AsType(DType.Bool).Item<bool>());
        Assert.False(Mx.Array(new[] { (BFloat16)(-0f) }).AsType(DType.Bool).Item<bool>());
        // Round trip of every type through float64 for small integers.
        foreach (var t in Enum.GetValues<DType>().Where(t => t != DType.Bool))
        {
            var x = Mx.Array(new[] { 0.0, 1, 2, 100 }).AsType(t);
            Assert.Equal(new[] { 0.0, 1, 2, 100 }, x.AsType(DType.Float64).ToArray<double>());
            Assert.Equal(new[] { 0.0, 1, 2, 100 }, x.AsType(DType.Int16).AsType(DType.Float32).ToArray<double>());
        }
        // A non-contiguous source.
        Assert.Equal(new[] { 3L, 2, 1 }, Mx.Array(new[] { 1f, 2, 3 })[Idx.Slice(null, null, -1)].AsType(DType.Int64).ToArray<long>());
    }

    [Fact]
    public void Arange()
    {
        var a = Mx.Arange(0, 5);
        Assert.Equal(DType.Int32, a.DType);
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, a.ToArray<int>());
        Assert.Equal(new[] { 10, 7, 4, 1 }, Mx.Arange(10, 0, -3).ToArray<int>());
        Assert.Equal(new[] { 2, 4 }, Mx.Arange(2, 6, 2).ToArray<int>());
        Assert.Empty(Mx.Arange(0, 0).ToArray<int>());
        Assert.Empty(Mx.Arange(5, 0).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2 }, Mx.Arange(3).ToArray<int>());
        var f = Mx.Arange(0.0, 1.0, 0.25);
        Assert.Equal(DType.Float32, f.DType);
        Assert.Equal(new[] { 0f, 0.25f, 0.5f, 0.75f }, f.ToArray<float>());
        Assert.Equal(3, Mx.Arange(0.0, 0.3, 0.1).Size);
        Assert.Equal(DType.Float64, Mx.Arange(0.0, 1.0, 0.5, DType.Float64).DType);
        Assert.Equal(new[] { 1.5f, 0.5f }, Mx.Arange(1.5, 0.0, -1.0).ToArray<float>());
        // MLX test_arange_corner_cases_cast: integer dtypes compute in the integer type.
        Assert.Equal(Enumerable.Repeat(0, 15), Mx.Arange(0.0, 3.0, 0.2, DType.Int32).ToArray<int>());
        Assert.Equal(new[] { -1, -1, -1, -1 }, Mx.Arange(-1.0, -4.0, -0.9, DType.Int32).ToArray<int>());
        Assert.Equal(Enumerable.Range(1, 16).Select(i => -i), Mx.Arange(-1.0, -20.0, -1.2, DType.Int32).ToArray<int>());
        Assert.Equal(new[] { 0f, 0.5f, 1f, 1.5f }, Mx.Arange(0.0, 2.0, 0.5).ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.Arange(0, 5, 0));
        Assert.Throws<ArgumentException>(() => Mx.Arange(0.0, 5.0, 0.0));
        Assert.Throws<ArgumentException>(() => Mx.Arange(0.0, double.PositiveInfinity, 1.0));
    }

    [Fact]
    public void Linspace()
    {
        H.Close(new[] { 0, 0.25, 0.5, 0.75, 1 }, Mx.Linspace(0, 1, 5));
        H.Close(new[] { 3.0 }, Mx.Linspace(3, 10, 1));
        Assert.Empty(Mx.Linspace(0, 1, 0).ToArray<float>());
        H.Close(new[] { 10.0, 5, 0 }, Mx.Linspace(10, 0, 3));
        Assert.Equal(DType.Float32, Mx.Linspace(0, 1).DType);
        Assert.Equal(50, Mx.Linspace(0, 1).Size);
        Assert.Throws<ArgumentException>(() => Mx.Linspace(0, 1, -1));
    }

    [Fact]
    public void EyeIdentityTri()
    {
        Assert.Equal(new[] { 1f, 0, 0, 0, 1, 0, 0, 0, 1 }, Mx.Eye(3).ToArray<float>());
        Assert.Equal(new[] { 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1 }, Mx.Eye(3, 4, 1, DType.Int32).ToArray<int>());
        Assert.Equal(new[] { 0, 0, 1, 0, 0, 1 }, Mx.Eye(3, 2, -1, DType.Int32).ToArray<int>());
        Assert.Equal(Mx.Eye(4).ToArray<float>(), Mx.Identity(4).ToArray<float>());
        Assert.Equal(new[] { 0, 0, 0, 1, 0, 0, 1, 1, 0 }, Mx.Tri(3, k: -1, dtype: DType.Int32).ToArray<int>());
        Assert.Equal(new[] { 1, 1, 0, 1, 1, 1 }, Mx.Tri(2, 3, 1, DType.Int32).ToArray<int>());
        var m = Mx.Reshape(Mx.Arange(1, 13), new[] { 3, 4 });
        Assert.Equal(new[] { 1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0 }, Mx.Tril(m).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12 }, Mx.Triu(m).ToArray<int>());
        Assert.Equal(new[] { 0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12 }, Mx.Triu(m, 1).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12 }, Mx.Tril(m, 1).ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.Tril(Mx.Arange(0, 3)));
        Assert.Empty(Mx.Eye(0).ToArray<float>());
    }

    [Fact]
    public void Meshgrid()
    {
        var x = Mx.Array(new[] { 1, 2, 3 });
        var y = Mx.Array(new[] { 4, 5 });
        var xy = Mx.Meshgrid(new[] { x, y });
        H.Shape(new[] { 2, 3 }, xy[0]);
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, xy[0].ToArray<int>());
        Assert.Equal(new[] { 4, 4, 4, 5, 5, 5 }, xy[1].ToArray<int>());
        var ij = Mx.Meshgrid(new[] { x, y }, indexing: "ij");
        H.Shape(new[] { 3, 2 }, ij[0]);
        Assert.Equal(new[] { 1, 1, 2, 2, 3, 3 }, ij[0].ToArray<int>());
        Assert.Equal(new[] { 4, 5, 4, 5, 4, 5 }, ij[1].ToArray<int>());
        var sp = Mx.Meshgrid(new[] { x, y }, sparse: true);
        H.Shape(new[] { 1, 3 }, sp[0]);
        H.Shape(new[] { 2, 1 }, sp[1]);
        Assert.Throws<ArgumentException>(() => Mx.Meshgrid(new[] { x }, indexing: "zz"));
    }

    [Fact]
    public void ShapesThatOverflowThrowAndNameTheShape()
    {
        var huge = new[] { int.MaxValue, int.MaxValue, int.MaxValue };
        var ex = Assert.Throws<OverflowException>(() => Mx.Zeros(huge));
        Assert.Contains("2147483647", ex.Message);
        var ex2 = Assert.Throws<OverflowException>(() => Mx.BroadcastTo(Mx.Array(1f), huge));
        Assert.Contains("2147483647", ex2.Message);
        var ex3 = Assert.Throws<OverflowException>(() => Mx.Array(new float[1], huge));
        Assert.Contains("2147483647", ex3.Message);
        var ex5 = Assert.Throws<OverflowException>(() => Mx.Reshape(Mx.Zeros(new[] { 0 }), huge));
        Assert.Contains("2147483647", ex5.Message);
        var ex6 = Assert.Throws<OverflowException>(() => Mx.Reshape(Mx.Zeros(new[] { 0 }), new[] { -1, int.MaxValue, int.MaxValue, int.MaxValue }));
        Assert.Contains("2147483647", ex6.Message);
        Assert.Throws<ArgumentException>(() => Mx.Zeros(new[] { 2, -1 }));
        var ex4 = Assert.Throws<OverflowException>(() => Mx.Tile(Mx.Zeros(new[] { 1 << 20 }), new[] { 1 << 12 }));
        Assert.Contains("4294967296", ex4.Message);
    }

    [Fact]
    public void DefaultDeviceIsCpuAndGpuIsRefused()
    {
        Assert.Equal(DeviceType.Cpu, Mx.DefaultDevice.Type);
        Assert.Throws<NotSupportedException>(() => Mx.SetDefaultDevice(Device.Gpu));
        Assert.Throws<NotSupportedException>(() => Mx.Add(Mx.Array(1), Mx.Array(2), Device.Gpu));
        Assert.Equal(3, Mx.Add(Mx.Array(1), Mx.Array(2), Device.Cpu).Item<int>());
    }

    [Fact]
    public void DTypeFactsMatchMlx()
    {
        // mlx.core dtype sizes and names (test_array.py test_dtypes).
        var expected = new (DType T, int Size, string Name)[]
        {
            (DType.Bool, 1, "bool"), (DType.UInt8, 1, "uint8"), (DType.UInt16, 2, "uint16"), (DType.UInt32, 4, "uint32"),
            (DType.UInt64, 8, "uint64"), (DType.Int8, 1, "int8"), (DType.Int16, 2, "int16"), (DType.Int32, 4, "int32"),
            (DType.Int64, 8, "int64"), (DType.Float16, 2, "float16"), (DType.Float32, 4, "float32"), (DType.Float64, 8, "float64"),
            (DType.BFloat16, 2, "bfloat16"), (DType.Complex64, 8, "complex64"),
        };
        foreach (var (t, size, name) in expected)
        {
            Assert.Equal(size, t.Size());
            Assert.Equal(name, t.Name());
            Assert.Equal(t, DTypes.Parse(name));
            var a = Mx.Zeros(new[] { 2, 3 }, t);
            Assert.Equal(size, a.ItemSize);
            Assert.Equal(6 * size, a.NBytes);
            Assert.Equal(6, a.Size);
            Assert.Equal(2, a.NDim);
        }
        Assert.Throws<ArgumentException>(() => DTypes.Parse("float8"));
        Assert.True(DType.BFloat16.IsFloating());
        Assert.True(DType.Complex64.IsInexact() && !DType.Complex64.IsFloating());
        Assert.True(DType.UInt64.IsUnsignedInteger() && !DType.Bool.IsInteger());
        Assert.Throws<NotSupportedException>(() => DTypes.Of<char>());
    }
}
