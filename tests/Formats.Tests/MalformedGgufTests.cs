namespace Mlx.Formats.Tests;

/// <summary>Hostile GGUF files (CVE-2025-62609 and llama.cpp's integer-overflow classes) are refused per ggml's gguf.cpp rules.</summary>
public class MalformedGgufTests
{
    private static void Refused(GgufBuilder b, string expected, LoadLimits? limits = null) =>
        TestUtil.Refused(b.Build(), ".gguf", expected, limits);

    /// <summary>A valid file with one f32 tensor of ne [4] plus optional extra KVs before it.</summary>
    private static GgufBuilder OneTensor(Action<GgufBuilder>? kvs = null, int kvCount = 0, long[]? ne = null, int type = 0, ulong offset = 0, int dataBytes = 16)
    {
        var b = new GgufBuilder().Header(3, 1, (ulong)kvCount);
        kvs?.Invoke(b);
        return b.Tensor("t", ne ?? [4], type, offset).Align().Zeros(dataBytes);
    }

    [Fact]
    public void ValidBaselineOpens()
    {
        string path = TestUtil.WriteTemp(OneTensor().Build(), ".gguf");
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal([4L], file.Tensors[0].Shape);
    }

    [Theory]
    [InlineData(1u, "version 1 is no longer supported")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "big-endian")]
    public void Versions(uint version, string expected)
    {
        Refused(new GgufBuilder().Header(version, 0, 0), expected);
    }

    [Fact]
    public void VersionTwoReads()
    {
        string path = TestUtil.WriteTemp(new GgufBuilder().Header(2, 0, 1).KvString("a", "b").Build(), ".gguf");
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal("b", file.Metadata["a"].AsString());
    }

    [Fact]
    public void HugeCounts()
    {
        Refused(new GgufBuilder().Header(3, ulong.MaxValue, 0), "is over the limit");
        Refused(new GgufBuilder().Header(3, 0, ulong.MaxValue), "is over the limit");
        Refused(new GgufBuilder().Header(3, 1000, 0), "cannot fit");
        Refused(new GgufBuilder().Header(3, 0, 1000).KvString("a", "b"), "cannot fit");
        Refused(new GgufBuilder().Header(3, 0, 1), "cannot fit");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(4).Zeros(2), "needs 4 bytes but only 2 remain");
    }

    [Fact]
    public void StringLengths()
    {
        Refused(new GgufBuilder().Header(3, 0, 1).U64(1L << 40).Zeros(16), "claims 1099511627776 bytes but only");
        Refused(new GgufBuilder().Header(3, 0, 1).U64(ulong.MaxValue).Zeros(16), "claims");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("key").U32(8).U64(100).Zeros(10), "claims 100 bytes");
        Refused(new GgufBuilder().Header(3, 0, 1).KvString("key", new string('x', 100)), "LoadLimits.MaxStringLength", new LoadLimits { MaxStringLength = 10 });
        Refused(new GgufBuilder().Header(3, 0, 1).U64(2).Raw([0xC3, 0x28]).U32(8).Str("v"), "not valid UTF-8");
    }

    [Fact]
    public void Keys()
    {
        Refused(new GgufBuilder().Header(3, 0, 1).KvString("", "v"), "empty metadata key");
        Refused(new GgufBuilder().Header(3, 0, 2).KvString("k", "v").KvString("k", "w"), "duplicate metadata key 'k'");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(13).U32(0), "unknown value type 13");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").I32(-1).U32(0), "unknown value type -1");
    }

    [Fact]
    public void Arrays()
    {
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(9).U64(1).U32(0).U64(1).U8(0), "nested array");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(6).U64(1L << 50).Zeros(64), "over the limit");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(6).U64(1000).Zeros(64), "claims 1000 elements but only");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(8).U64(1000).Zeros(64), "claims 1000 elements");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(14).U64(1).Zeros(8), "unknown array element type 14");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(0).U64(10).Zeros(10), "LoadLimits.MaxMetadataArrayLength",
            new LoadLimits { MaxMetadataArrayLength = 5 });
    }

    [Fact]
    public void BoolsMustBeZeroOrOne()
    {
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(7).U8(2), "only 0 and 1 are valid");
        Refused(new GgufBuilder().Header(3, 0, 1).Str("k").U32(9).U32(7).U64(2).U8(1).U8(255), "only 0 and 1 are valid");
    }

    [Theory]
    [InlineData(0u, "not a power of two")]
    [InlineData(3u, "not a power of two")]
    [InlineData(48u, "not a power of two")]
    public void Alignment(uint alignment, string expected)
    {
        Refused(OneTensor(b => b.KvU32("general.alignment", alignment), 1), expected);
    }

    [Fact]
    public void AlignmentMustBeUInt32()
    {
        Refused(OneTensor(b => b.Str("general.alignment").U32(10).U64(32), 1), "must be a UINT32");
    }

    [Fact]
    public void TensorInfos()
    {
        Refused(OneTensor(ne: [1, 1, 1, 1, 1]), "has 5 dimensions; ggml allows at most 4");
        Refused(new GgufBuilder().Header(3, 1, 0).Tensor(new string('n', 64), [4], 0, 0).Align().Zeros(16), "ggml allows at most 63");
        Refused(new GgufBuilder().Header(3, 2, 0).Tensor("t", [4], 0, 0).Tensor("t", [4], 0, 32).Align().Zeros(48), "duplicate tensor name 't'");
        Refused(OneTensor(ne: [-4]), "negative dimension");
        Refused(OneTensor(ne: [1L << 62, 4, 1, 1]), "overflows");
        Refused(OneTensor(ne: [1L << 40, 1L << 40]), "overflows");
        Refused(OneTensor(ne: [1L << 40]), "runs past the end of the file");
        Refused(OneTensor(ne: [33], type: 2), "not a multiple of q4_0's block size 32");
        Refused(OneTensor(ne: [32, 3], type: 12), "not a multiple of q4_k's block size 256");
    }

    [Theory]
    [InlineData(4, "Q4_2")]
    [InlineData(5, "Q4_3")]
    [InlineData(31, "removed")]
    [InlineData(33, "removed")]
    [InlineData(36, "removed")]
    [InlineData(38, "removed")]
    [InlineData(99, "unknown ggml type id 99")]
    [InlineData(-1, "unknown ggml type id -1")]
    public void RemovedAndUnknownTypeIds(int type, string expected)
    {
        Refused(OneTensor(type: type), expected);
    }

    [Fact]
    public void OffsetsMustBeTheRunningPaddedSum()
    {
        Refused(OneTensor(offset: 32, dataBytes: 48), "offset 32 is not the expected 0");
        Refused(OneTensor(offset: ulong.MaxValue), "out of range");
        Refused(new GgufBuilder().Header(3, 2, 0).Tensor("a", [4], 0, 0).Tensor("b", [4], 0, 16).Align().Zeros(48), "offset 16 is not the expected 32");
        // Two tensors sharing one data region (the pointer-aliasing CVE class).
        Refused(new GgufBuilder().Header(3, 2, 0).Tensor("a", [4], 0, 0).Tensor("b", [4], 0, 0).Align().Zeros(48), "not the expected 32");
    }

    [Fact]
    public void DataPastEndAndTrailingBytes()
    {
        Refused(OneTensor(dataBytes: 8), "runs past the end of the file");
        Refused(OneTensor(dataBytes: 0), "runs past the end");
        Refused(OneTensor(dataBytes: 64), "trailing bytes");
        // The last tensor's padding may be omitted or present.
        foreach (int n in new[] { 16, 32 })
        {
            string path = TestUtil.WriteTemp(OneTensor(dataBytes: n).Build(), ".gguf");
            using ModelFile file = ModelFile.Open(path);
            Assert.Single(file.Tensors);
        }
    }

    [Fact]
    public void TruncatedEverywhereIsRefusedCleanly()
    {
        byte[] full = File.ReadAllBytes(TestUtil.Data("mlx", "gguf_mixed.gguf"));
        for (int n = 0; n < full.Length; n += 7)
        {
            string path = TestUtil.WriteTemp(full[..n], ".gguf");
            Assert.Throws<ModelFormatException>(() => TestUtil.OpenAndReadAll(path));
        }
    }

    [Fact]
    public void QuantizedTypesAreDescribed()
    {
        var b = new GgufBuilder().Header(3, 4, 0)
            .Tensor("q5", [32, 2], 6, 0)
            .Tensor("q8k", [256], 15, 64)
            .Tensor("iq2", [256], 16, 64 + 320)
            .Tensor("mx", [32], 39, 64 + 320 + 96).Align()
            .Zeros(64 + 320 + 96 + 17);
        string path = TestUtil.WriteTemp(b.Build(), ".gguf");
        using ModelFile file = ModelFile.Open(path);
        Assert.Equal(["q5_0", "q8_k", "iq2_xxs", "mxfp4"], file.Tensors.Select(t => t.TypeName));
        Assert.Equal([2L, 32], file.Tensors[0].Shape);
        Assert.Equal(44, file.Tensors[0].ByteLength);
        Assert.All(file.Tensors, t => Assert.Null(t.DType));
        ModelFormatException e = Assert.Throws<ModelFormatException>(() => file.DequantizeToFloat32(file.Tensors[0]));
        Assert.Contains("q5_0 cannot be dequantized", e.Message);
        Assert.Contains("q8_k has no affine conversion", Assert.Throws<ModelFormatException>(() => file.ReadAffineQuantized(file.Tensors[1])).Message);
        Assert.Contains("quantized type", Assert.Throws<ModelFormatException>(() => file.ReadTensor(file.Tensors[2])).Message);
    }
}
