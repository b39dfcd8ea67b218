using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Mlx.Formats.Tests;

/// <summary>Every fixture written by MLX, NumPy and PyTorch reads to exactly what its JSON companion describes.</summary>
public class FixtureTests
{
    public static TheoryData<string> MlxNpyFixtures()
    {
        var data = new TheoryData<string>();
        foreach (string f in Directory.GetFiles(TestUtil.Data("mlx"), "npy_*.npy.json").Order())
        {
            data.Add(Path.GetFileName(f));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MlxNpyFixtures))]
    public void MlxNpyReadsAsDescribed(string companion)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestUtil.Data("mlx", companion)));
        JsonElement root = doc.RootElement;
        using ModelFile file = ModelFile.Open(TestUtil.Data("mlx", root.GetProperty("file").GetString()!));
        Assert.Equal(ModelFileFormat.Npy, file.Format);
        TensorEntry t = Assert.Single(file.Tensors);
        Assert.Equal("", t.Name);
        Assert.Equal(root.GetProperty("data_offset").GetInt64(), t.DataOffset);
        CheckArray(file, t, root.GetProperty("array"));
    }

    [Theory]
    [InlineData("st_mixed.safetensors.json")]
    [InlineData("st_nometa.safetensors.json")]
    public void MlxSafetensorsReadAsDescribed(string companion)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestUtil.Data("mlx", companion)));
        JsonElement root = doc.RootElement;
        using ModelFile file = ModelFile.Open(TestUtil.Data("mlx", root.GetProperty("file").GetString()!));
        Assert.Equal(ModelFileFormat.Safetensors, file.Format);
        var expectedMeta = root.GetProperty("metadata").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(expectedMeta.Count, file.Metadata.Count);
        foreach ((string key, string? value) in expectedMeta)
        {
            Assert.Equal(value, file.Metadata[key].AsString());
        }
        long dataStart = root.GetProperty("data_start").GetInt64();
        var arrays = root.GetProperty("arrays").EnumerateObject().ToList();
        Assert.Equal(arrays.Count, file.Tensors.Count);
        foreach (JsonProperty a in arrays)
        {
            Assert.True(file.TryGetTensor(a.Name, out TensorEntry t), a.Name);
            Assert.Equal(dataStart + a.Value.GetProperty("data_offsets")[0].GetInt64(), t.DataOffset);
            CheckArray(file, t, a.Value);
        }
    }

    [Fact]
    public void MlxGgufReadsAsDescribed()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestUtil.Data("mlx", "gguf_mixed.gguf.json")));
        JsonElement root = doc.RootElement;
        using ModelFile file = ModelFile.Open(TestUtil.Data("mlx", "gguf_mixed.gguf"));
        Assert.Equal(ModelFileFormat.Gguf, file.Format);
        Assert.Equal(root.GetProperty("tensor_count").GetInt32(), file.Tensors.Count);
        foreach (JsonProperty a in root.GetProperty("arrays").EnumerateObject())
        {
            Assert.True(file.TryGetTensor(a.Name, out TensorEntry t), a.Name);
            Assert.Equal(a.Value.GetProperty("gguf_dims").EnumerateArray().Select(d => d.GetInt64()).Reverse(), t.Shape);
            CheckArray(file, t, a.Value);
        }
        JsonElement meta = root.GetProperty("metadata_as_loaded_by_mlx_load_gguf");
        Assert.Equal(root.GetProperty("kv_count").GetInt32(), file.Metadata.Count);
        foreach (JsonProperty m in meta.EnumerateObject())
        {
            MetadataValue v = file.Metadata[m.Name];
            switch (m.Value.GetProperty("kind").GetString())
            {
                case "string":
                    Assert.Equal(m.Value.GetProperty("value").GetString(), v.AsString());
                    break;
                case "string_array":
                    Assert.Equal(m.Value.GetProperty("value").EnumerateArray().Select(e => e.GetString()), v.AsStrings());
                    break;
                default:
                    JsonElement arr = m.Value.GetProperty("array");
                    string dtype = arr.GetProperty("dtype").GetString()!;
                    bool scalar = arr.GetProperty("shape").GetArrayLength() == 0;
                    Assert.Equal(scalar ? v.Kind : MetadataKind.Array, v.Kind);
                    Assert.Equal(dtype, KindName(v.ElementKind));
                    var expected = arr.GetProperty("first_values").EnumerateArray().ToList();
                    Assert.Equal(expected.Count, v.Count);
                    for (int i = 0; i < expected.Count; i++)
                    {
                        MetadataValue item = scalar ? v : v.ElementAt(i);
                        Assert.Equal(expected[i].ValueKind is JsonValueKind.True or JsonValueKind.False
                            ? (expected[i].GetBoolean() ? "true" : "false")
                            : expected[i].GetRawText(), Render(item));
                    }
                    break;
            }
        }
    }

    private static string Render(MetadataValue v) => v.Kind switch
    {
        MetadataKind.Float32 or MetadataKind.Float64 => v.AsDouble().ToString("0.0###############", CultureInfo.InvariantCulture),
        _ => v.ToDisplayString(),
    };

    private static string KindName(MetadataKind k) => k switch
    {
        MetadataKind.Bool => "bool",
        MetadataKind.UInt8 => "uint8",
        MetadataKind.Int8 => "int8",
        MetadataKind.UInt16 => "uint16",
        MetadataKind.Int16 => "int16",
        MetadataKind.UInt32 => "uint32",
        MetadataKind.Int32 => "int32",
        MetadataKind.UInt64 => "uint64",
        MetadataKind.Int64 => "int64",
        MetadataKind.Float32 => "float32",
        MetadataKind.Float64 => "float64",
        _ => k.ToString(),
    };

    [Fact]
    public void NumpyNpyReadAsDescribed()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestUtil.Data("numpy_torch", "npy.json")));
        foreach (JsonProperty f in doc.RootElement.EnumerateObject())
        {
            using ModelFile file = ModelFile.Open(TestUtil.Data("numpy_torch", f.Name));
            TensorEntry t = Assert.Single(file.Tensors);
            Assert.Equal(f.Value.GetProperty("dtype").GetString(), t.TypeName);
            Assert.Equal(f.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.Shape);
            JsonElement values = f.Value.TryGetProperty("values", out JsonElement v) ? v
                : f.Value.TryGetProperty("values_c_order", out JsonElement c) ? c : default;
            if (values.ValueKind == JsonValueKind.Array)
            {
                CompareValues(t.DType!.Value, file.ReadTensor(t), values);
            }
        }
        using ModelFile big = ModelFile.Open(TestUtil.Data("numpy_torch", "np_bigendian_f4_2x3.npy"));
        Assert.True(big.Tensors[0].IsBigEndian);
        using ModelFile fortran = ModelFile.Open(TestUtil.Data("numpy_torch", "np_fortran_i4_3x4.npy"));
        Assert.True(fortran.Tensors[0].IsFortranOrder);
    }

    [Fact]
    public void NumpyNpzReadAsDescribed()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestUtil.Data("numpy_torch", "npz.json")));
        foreach (JsonProperty f in doc.RootElement.EnumerateObject())
        {
            using ModelFile file = ModelFile.Open(TestUtil.Data("numpy_torch", f.Name));
            Assert.Equal(ModelFileFormat.Npz, file.Format);
            var members = f.Value.EnumerateObject().ToList();
            Assert.Equal(members.Count, file.Tensors.Count);
            foreach (JsonProperty m in members)
            {
                Assert.True(file.TryGetTensor(m.Name, out TensorEntry t), m.Name);
                Assert.Equal(m.Value.GetProperty("dtype").GetString(), t.TypeName);
                Assert.Equal(m.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.Shape);
                byte[] bytes = file.ReadTensor(t);
                Assert.Equal(m.Value.GetProperty("sha256_c_order_le").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
                CompareValues(t.DType!.Value, bytes, m.Value.GetProperty("first"));
            }
        }
    }

    [Theory]
    [InlineData("np_object_pickle.npy", ".npy")]
    [InlineData("torch_state_dict.pt", ".pt")]
    [InlineData("torch_state_dict_legacy.pt", ".pt")]
    [InlineData("torch_state_dict.pt", ".safetensors")]
    [InlineData("torch_state_dict.pt", ".npz")]
    [InlineData("torch_state_dict_legacy.pt", ".safetensors")]
    [InlineData("torch_state_dict_legacy.pt", ".gguf")]
    [InlineData("torch_state_dict_legacy.pt", ".npy")]
    public void PicklesAreRefusedWhateverTheExtension(string fixture, string extension)
    {
        byte[] bytes = File.ReadAllBytes(TestUtil.Data("numpy_torch", fixture));
        ModelFormatException e = TestUtil.Refused(bytes, extension, "a pickle is code, and it is never loaded");
        Assert.Contains("pickle", e.Reason);
    }

    [Fact]
    public void ContentThatDisagreesWithTheExtensionIsRefused()
    {
        byte[] gguf = File.ReadAllBytes(TestUtil.Data("mlx", "gguf_mixed.gguf"));
        ModelFormatException e = TestUtil.Refused(gguf, ".safetensors", "the content is gguf but the extension says safetensors");
        Assert.Equal(ModelFileFormat.Safetensors, e.Format);
        // An unknown extension is decided by content alone.
        TestUtil.OpenAndReadAll(TestUtil.WriteTemp(gguf, ".bin"));
        Assert.Equal(ModelFileFormat.Gguf, ModelFile.Detect(TestUtil.WriteTemp(gguf, ".model")));
    }

    /// <summary>Checks dtype, shape, byte count and the listed values/bits of one tensor.</summary>
    private static void CheckArray(ModelFile file, TensorEntry t, JsonElement a)
    {
        string dtype = a.GetProperty("dtype").GetString()!;
        Assert.Equal(dtype, t.TypeName);
        Assert.Equal(dtype, t.DType!.Value.MlxName());
        Assert.Equal(a.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), t.Shape);
        Assert.Equal(a.GetProperty("nbytes").GetInt64(), t.ByteLength);
        Assert.Equal(a.GetProperty("size").GetInt64(), t.ElementCount);
        byte[] bytes = file.ReadTensor(t);
        CompareValues(t.DType.Value, bytes, a.GetProperty("first_values"));
        if (a.TryGetProperty("first_bits", out JsonElement bits))
        {
            int i = 0;
            foreach (JsonElement b in bits.EnumerateArray())
            {
                Assert.Equal(Convert.ToUInt16(b.GetString(), 16), BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i++)));
            }
        }
        if (a.TryGetProperty("sum_as_float64", out JsonElement sum))
        {
            double total = Enumerable.Range(0, (int)t.ElementCount).Sum(i => Decode(t.DType.Value, bytes, i));
            Assert.Equal(sum.GetDouble(), total, Math.Abs(sum.GetDouble()) * 1e-12 + 1e-9);
        }
    }

    private static void CompareValues(TensorDType dtype, byte[] bytes, JsonElement expected)
    {
        int i = 0;
        foreach (JsonElement e in expected.EnumerateArray())
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Array:
                    Assert.Equal(e[0].GetDouble(), BitConverter.ToSingle(bytes, 8 * i));
                    Assert.Equal(e[1].GetDouble(), BitConverter.ToSingle(bytes, 8 * i + 4));
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    Assert.Equal(e.GetBoolean() ? 1 : 0, bytes[i]);
                    break;
                default:
                    if (dtype is TensorDType.Int64 or TensorDType.UInt64)
                    {
                        string actual = dtype == TensorDType.Int64
                            ? BitConverter.ToInt64(bytes, 8 * i).ToString(CultureInfo.InvariantCulture)
                            : BitConverter.ToUInt64(bytes, 8 * i).ToString(CultureInfo.InvariantCulture);
                        Assert.Equal(e.GetRawText(), actual);
                    }
                    else
                    {
                        Assert.Equal(e.GetDouble(), Decode(dtype, bytes, i));
                    }
                    break;
            }
            i++;
        }
    }

    internal static double Decode(TensorDType dtype, byte[] b, int i) => dtype switch
    {
        TensorDType.Bool => b[i],
        TensorDType.UInt8 => b[i],
        TensorDType.Int8 => (sbyte)b[i],
        TensorDType.UInt16 => BitConverter.ToUInt16(b, 2 * i),
        TensorDType.Int16 => BitConverter.ToInt16(b, 2 * i),
        TensorDType.UInt32 => BitConverter.ToUInt32(b, 4 * i),
        TensorDType.Int32 => BitConverter.ToInt32(b, 4 * i),
        TensorDType.UInt64 => BitConverter.ToUInt64(b, 8 * i),
        TensorDType.Int64 => BitConverter.ToInt64(b, 8 * i),
        TensorDType.Float16 => (double)BitConverter.ToHalf(b, 2 * i),
        TensorDType.BFloat16 => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(b, 2 * i) << 16),
        TensorDType.Float32 => BitConverter.ToSingle(b, 4 * i),
        TensorDType.Float64 => BitConverter.ToDouble(b, 8 * i),
        _ => BitConverter.ToSingle(b, 8 * i) + BitConverter.ToSingle(b, 8 * i + 4),
    };
}
