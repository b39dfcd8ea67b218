using System.Text;

namespace Mlx.Formats.Tests;

/// <summary>Hostile .safetensors files are refused per the Rust crate's rules.</summary>
public class MalformedSafetensorsTests
{
    private static void Refused(string json, int dataBytes, string expected, LoadLimits? limits = null) =>
        TestUtil.Refused(TestUtil.Safetensors(json, new byte[dataBytes]), ".safetensors", expected, limits);

    private const string A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    [Fact]
    public void HeaderLengthChecks()
    {
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64(100_000_001), TestUtil.Ascii("{}")), ".safetensors", "over the limit of 100000000");
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64(ulong.MaxValue), TestUtil.Ascii("{}")), ".safetensors", "over the limit");
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64(50), TestUtil.Ascii("{}")), ".safetensors", "runs past the end of the file");
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64(2), TestUtil.Ascii("[]")), ".safetensors", "does not start with");
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64(3), TestUtil.Ascii(" {}")), ".safetensors", "does not start with '{'");
        TestUtil.Refused(TestUtil.U64(1)[..5], ".safetensors", "not a recognised");
        TestUtil.Refused(TestUtil.U64(1)[..5], ".bin", "not a recognised");
        TestUtil.Refused(TestUtil.Safetensors("{" + A + "}", new byte[8]), ".safetensors", "over the limit", new LoadLimits { MaxHeaderBytes = 10 });
    }

    [Theory]
    [InlineData("{" + A + "," + A + "}", 8, "duplicate key 'a'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate key 'dtype'")]
    [InlineData("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate '__metadata__' key")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "must be a string")]
    [InlineData("{\"__metadata__\":[\"k\"]}", 0, "must be an object")]
    [InlineData("{\"__metadata__\":{\"k\":{\"x\":{}}}}", 0, "must be a string")]
    [InlineData("{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}", 0, "must be an object")]
    [InlineData("{\"a\":{\"dtype\":[[[[[[[[[[[[\"F32\"]]]]]]]]]]]]}}", 0, "must be a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unknown key 'extra'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "needs 'dtype', 'shape' and 'data_offsets'")]
    [InlineData("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported dtype 'Q4'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8, "non-negative integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, "non-negative integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflows")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8, "data_offsets has more than 2")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", 8, "data_offsets must be [start, end]")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they start")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the end")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551608,18446744073709551615]}}", 8, "below 2^63")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 trailing bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, "gap of 4 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "gap of 4 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}{}", 8, "not valid JSON")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "not valid JSON")]
    [InlineData("{\"\\ud800\":{}}", 0, "invalid string")]
    [InlineData("{\"a\":1}", 0, "must be an object")]
    public void HeaderRules(string json, int dataBytes, string expected)
    {
        Refused(json, dataBytes, expected);
    }

    [Fact]
    public void InvalidUtf8Header()
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"a\xff\":{}}".Replace('\xff', 'X'));
        json[3] = 0xFF;
        TestUtil.Refused(TestUtil.Concat(TestUtil.U64((ulong)json.Length), json), ".safetensors", "not valid UTF-8");
    }

    [Fact]
    public void LimitsOnCounts()
    {
        Refused("{" + A + "}", 8, "LoadLimits.MaxTensorCount", new LoadLimits { MaxTensorCount = 0 });
        Refused("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"}}", 0, "LoadLimits.MaxMetadataEntries", new LoadLimits { MaxMetadataEntries = 1 });
        Refused("{\"__metadata__\":{\"a\":\"0123456789\"}}", 0, "LoadLimits.MaxStringLength", new LoadLimits { MaxStringLength = 5 });
        Refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1],\"data_offsets\":[0,4]}}", 4, "LoadLimits.MaxRank", new LoadLimits { MaxRank = 2 });
        Refused("{" + A + "}", 8, "LoadLimits.MaxTotalTensorBytes", new LoadLimits { MaxTotalTensorBytes = 4 });
        Refused("{" + A + "}", 8, "LoadLimits.MaxFileBytes", new LoadLimits { MaxFileBytes = 16 });
    }

    [Fact]
    public void TrailingWhitespaceAndNullMetadataAreAccepted()
    {
        string path = TestUtil.WriteTemp(TestUtil.Safetensors("{\"__metadata__\":null," + A + "}   ", new byte[8]), ".safetensors");
        using ModelFile file = ModelFile.Open(path);
        Assert.Empty(file.Metadata);
        Assert.Single(file.Tensors);
    }

    [Fact]
    public void Float8TensorsAreDescribedButNotConverted()
    {
        string path = TestUtil.WriteTemp(TestUtil.Safetensors("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]), ".safetensors");
        using ModelFile file = ModelFile.Open(path);
        TensorEntry t = file.Tensors[0];
        Assert.Null(t.DType);
        Assert.Equal("float8_e4m3", t.TypeName);
        Assert.Equal(2, file.ReadRawBytes(t).Length);
        Assert.Throws<ModelFormatException>(() => file.ReadTensor(t));
    }
}
