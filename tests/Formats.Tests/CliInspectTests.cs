using System.Text.Json;
using Mlx.Cli;

namespace Mlx.Formats.Tests;

/// <summary><c>mlx inspect</c>: exit codes 0/2/3, the --json shape, one stderr line per refused file.</summary>
public class CliInspectTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = InspectCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void JsonDescribesEveryFormat()
    {
        string[] files =
        [
            TestUtil.Data("mlx", "st_mixed.safetensors"),
            TestUtil.Data("mlx", "gguf_mixed.gguf"),
            TestUtil.Data("mlx", "npy_float32_2x3.npy"),
            TestUtil.Data("numpy_torch", "np_savez_deflate.npz"),
        ];
        (int code, string output, string err) = Run(["--json", .. files]);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(files.Length, lines.Length);
        var docs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["safetensors", "gguf", "npy", "npz"], docs.Select(d => d.GetProperty("format").GetString()));
        foreach (JsonElement d in docs)
        {
            Assert.Equal(["file", "format", "metadata", "tensors"], d.EnumerateObject().Select(p => p.Name));
            foreach (JsonElement t in d.GetProperty("tensors").EnumerateArray())
            {
                Assert.Equal(["name", "dtype", "shape", "bytes", "sha256"], t.EnumerateObject().Select(p => p.Name));
                Assert.Equal(64, t.GetProperty("sha256").GetString()!.Length);
            }
        }
        Assert.Equal("mlx", docs[0].GetProperty("metadata").GetProperty("format").GetString());
        JsonElement gguf = docs[1].GetProperty("metadata");
        Assert.Equal(42, gguf.GetProperty("test.int32_scalar").GetInt32());
        Assert.True(gguf.GetProperty("test.bool_scalar").GetBoolean());
        Assert.Equal(5, gguf.GetProperty("tokenizer.ggml.tokens").GetArrayLength());
        JsonElement npy = docs[2].GetProperty("tensors")[0];
        Assert.Equal("", npy.GetProperty("name").GetString());
        Assert.Equal("float32", npy.GetProperty("dtype").GetString());
        Assert.Equal([2, 3], npy.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(24, npy.GetProperty("bytes").GetInt32());
        // For little-endian C-order members the stored bytes are the array bytes, so the hashes match NumPy's.
        JsonElement weights = docs[3].GetProperty("tensors").EnumerateArray().First(t => t.GetProperty("name").GetString() == "weights");
        Assert.Equal("bb3fa84cee66cb905829bf0427cb7d9ce4cd3418f2703017d0f3245f8648351a", weights.GetProperty("sha256").GetString());
    }

    [Fact]
    public void TableOutput()
    {
        (int code, string output, _) = Run(TestUtil.Data("mlx", "gguf_mixed.gguf"));
        Assert.Equal(0, code);
        Assert.Contains("gguf, 7 tensor(s), 13 metadata entries", output);
        Assert.Contains("blk.0.attn_q.weight", output);
        Assert.Contains("[4, 8]", output);
        Assert.Contains("general.architecture = llama", output);
    }

    [Fact]
    public void QuantizedTypesLoadWouldNotConvertAreStillDescribed()
    {
        byte[] bytes = new GgufBuilder().Header(3, 2, 0).Tensor("q5", [32], 6, 0).Tensor("q8k", [256], 15, 32).Align().Zeros(32 + 292).Build();
        (int code, string output, _) = Run("--json", TestUtil.WriteTemp(bytes, ".gguf"));
        Assert.Equal(0, code);
        JsonElement tensors = JsonDocument.Parse(output).RootElement.GetProperty("tensors");
        Assert.Equal(["q5_0", "q8_k"], tensors.EnumerateArray().Select(t => t.GetProperty("dtype").GetString()));
    }

    [Fact]
    public void UsageErrorsExitTwo()
    {
        Assert.Equal(2, Run().Code);
        Assert.Equal(2, Run("--json").Code);
        (int code, _, string err) = Run("--bogus", TestUtil.Data("mlx", "gguf_mixed.gguf"));
        Assert.Equal(2, code);
        Assert.Contains("unknown option '--bogus'", err);
        Assert.Equal(0, Run("--help").Code);
    }

    [Fact]
    public void BadFilesExitThreeWithOneLineEach()
    {
        string pickle = TestUtil.Data("numpy_torch", "torch_state_dict.pt");
        string missing = Path.Combine(TestUtil.TempDir(), "missing.safetensors");
        string good = TestUtil.Data("mlx", "st_nometa.safetensors");
        (int code, string output, string err) = Run("--json", pickle, good, missing);
        Assert.Equal(3, code);
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"mlx: {pickle}: ", lines[0]);
        Assert.Contains("pickle", lines[0]);
        Assert.StartsWith($"mlx: {missing}: ", lines[1]);
        Assert.DoesNotContain("   at ", err);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
