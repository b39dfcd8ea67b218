using System.Security.Cryptography;
using Mlx.Formats;
using Mlx.Formats.Trust;

namespace Mlx.Core.Tests.IO;

/// <summary>Mx.Load with a pinned digest or a required signature; sharded and whole-folder loads through a ModelRoot; the memory budget.</summary>
[Collection("Memory")]
public class TrustLoadTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mlx-trust-");

    public void Dispose() => _dir.Delete(true);

    private string P(string name) => Path.Combine(_dir.FullName, name);

    private string Model()
    {
        Mx.SaveSafetensors(P("model.safetensors"), new Dictionary<string, MxArray> { ["w"] = Mx.Array(new float[] { 1, 2, 3, 4 }, new[] { 2, 2 }) });
        File.WriteAllText(P("config.json"), "{}");
        return P("model.safetensors");
    }

    private static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static (TrustedSigner Trusted, ECDsa Key) SignFolder(string folder)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using (var signer = ModelSigner.FromPrivateKeyPem(key.ExportPkcs8PrivateKeyPem()))
        {
            signer.Sign(folder);
        }
        return (TrustedSigner.FromPublicKeyPem(key.ExportSubjectPublicKeyInfoPem()), key);
    }

    private static void Overwrite(string path, float[] values)
    {
        // Same size, other values, written in place: what a swap after a check would do.
        byte[] bytes = File.ReadAllBytes(path);
        byte[] data = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        data.CopyTo(bytes, bytes.Length - data.Length);
        using var s = new FileStream(path, FileMode.Open, FileAccess.Write);
        s.Write(bytes);
    }

    [Fact]
    public void PinnedDigestLoadsAndParsesTheHashedBytes()
    {
        string path = Model();
        var arrays = Mx.Load(path, new LoadOptions { ExpectedSha256 = Sha(path) });
        // Arrays read lazily; a change to the file after the check must not reach them.
        Overwrite(path, [9, 9, 9, 9]);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, arrays["w"].ToArray<float>());
    }

    [Fact]
    public void PinnedDigestMismatchRefuses()
    {
        string path = Model();
        string sha = Sha(path);
        Overwrite(path, [9, 9, 9, 9]);
        var e = Assert.Throws<DigestMismatchException>(() => Mx.Load(path, new LoadOptions { ExpectedSha256 = sha }));
        Assert.Contains(sha, e.Message);
        Assert.Contains(Sha(path), e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrustedKeyVerifiesTheFolderThenParsesTheVerifiedBytes()
    {
        string path = Model();
        (TrustedSigner trusted, ECDsa key) = SignFolder(_dir.FullName);
        using (trusted)
        using (key)
        {
            var arrays = Mx.Load(path, new LoadOptions { TrustedKey = trusted });
            Overwrite(path, [9, 9, 9, 9]);
            Assert.Equal(new float[] { 1, 2, 3, 4 }, arrays["w"].ToArray<float>());
            var e = Assert.Throws<SignatureVerificationException>(() => Mx.Load(path, new LoadOptions { TrustedKey = trusted }));
            Assert.Equal((VerificationCheck.ChangedFile, "model.safetensors"), (e.Check, e.File));
        }
    }

    [Fact]
    public void TrustedKeyFailsOnAnyOtherChangeInTheFolder()
    {
        string path = Model();
        (TrustedSigner trusted, ECDsa key) = SignFolder(_dir.FullName);
        using (trusted)
        using (key)
        {
            File.WriteAllText(P("extra.py"), "import os");
            var e = Assert.Throws<SignatureVerificationException>(() => Mx.Load(path, new LoadOptions { TrustedKey = trusted }));
            Assert.Equal((VerificationCheck.ExtraFile, "extra.py"), (e.Check, e.File));
            File.Delete(P("extra.py"));
            using var other = TrustedSigner.FromPublicKeyPem(ECDsa.Create(ECCurve.NamedCurves.nistP256).ExportSubjectPublicKeyInfoPem());
            e = Assert.Throws<SignatureVerificationException>(() => Mx.Load(path, new LoadOptions { TrustedKey = other }));
            Assert.Equal(VerificationCheck.Signature, e.Check);
        }
    }

    private void Shards(string index)
    {
        Mx.SaveSafetensors(P("model-00001-of-00002.safetensors"), new Dictionary<string, MxArray> { ["a"] = Mx.Array(new float[] { 1, 2 }) });
        Mx.SaveSafetensors(P("model-00002-of-00002.safetensors"), new Dictionary<string, MxArray> { ["b"] = Mx.Array(new int[] { 3 }) });
        File.WriteAllText(P(Mx.ShardIndexName), index);
    }

    private const string GoodIndex = "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}";

    [Fact]
    public void ShardedModelLoadsThroughTheRootAndSigned()
    {
        Shards(GoodIndex);
        var arrays = Mx.LoadSharded(new ModelRoot(_dir.FullName));
        Assert.Equal(new float[] { 1, 2 }, arrays["a"].ToArray<float>());
        Assert.Equal(new[] { 3 }, arrays["b"].ToArray<int>());
        (TrustedSigner trusted, ECDsa key) = SignFolder(_dir.FullName);
        using (trusted)
        using (key)
        {
            var signed = Mx.LoadModel(_dir.FullName, new LoadOptions { TrustedKey = trusted });
            Assert.Equal(["a", "b"], signed.Keys.Order());
            File.WriteAllText(P(Mx.ShardIndexName), GoodIndex.Replace("\"b\"", "\"b\" "));
            Assert.Throws<SignatureVerificationException>(() => Mx.LoadModel(_dir.FullName, new LoadOptions { TrustedKey = trusted }));
        }
    }

    [Theory]
    [InlineData("../model-00002-of-00002.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/model-00002-of-00002.safetensors")]
    public void ShardNamesThatLeaveTheFolderAreRefused(string shard)
    {
        Shards(GoodIndex.Replace("model-00002-of-00002.safetensors", shard));
        Assert.Throws<PathRefusedException>(() => Mx.LoadSharded(new ModelRoot(_dir.FullName)));
        Assert.Throws<PathRefusedException>(() => Mx.LoadModel(_dir.FullName));
    }

    [Fact]
    public void MemoryLimitRefusesALoadBeforeAllocating()
    {
        Mx.SaveSafetensors(P("big.safetensors"), new Dictionary<string, MxArray> { ["big"] = Mx.Zeros(new[] { 1024, 1024 }) });
        try
        {
            // The zeros written above are garbage: collect them so the budget below is exact.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long active = Mx.Memory.ActiveBytes;
            Mx.Memory.SetMemoryLimit(active + (1L << 20));
            var e = Assert.Throws<MemoryLimitExceededException>(() => Mx.Load(P("big.safetensors")));
            Assert.Equal(4L << 20, e.Requested);
            Assert.Contains("4,194,304", e.Message);
            Assert.Contains("memory limit", e.Message);
            Assert.True(Mx.Memory.ActiveBytes <= active + (1L << 20));
            Mx.Memory.SetMemoryLimit(0);
            Shards(GoodIndex);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Mx.Memory.SetMemoryLimit(Mx.Memory.ActiveBytes + 4);
            Assert.Throws<MemoryLimitExceededException>(() => Mx.LoadSharded(new ModelRoot(_dir.FullName)));
        }
        finally
        {
            Mx.Memory.SetMemoryLimit(0);
        }
        Assert.Equal(4L << 20, Mx.Load(P("big.safetensors"))["big"].NBytes);
    }
}
