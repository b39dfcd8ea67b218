using System.Globalization;
using System.Text.RegularExpressions;
using Mlx.Cli;

namespace Mlx.Core.Tests;

/// <summary><c>mlx eval mnist --quantize BITS</c>: the trained MLP's layers quantized, accuracy close to the float model's.</summary>
public class CliEvalQuantizedTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Mlx.Cli.Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static double Accuracy(string output) =>
        double.Parse(Regex.Match(output, @"Test accuracy ([0-9.]+) %").Groups[1].Value, CultureInfo.InvariantCulture);

    [Fact]
    public void QuantizedEvalKeepsAccuracy_AndRefusesUnsupportedBits()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mlx-cli-q-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, Run("train", "mnist", "--epochs", "3", "--out", dir).Code);
            string weights = Path.Combine(dir, "mnist_mlp.safetensors");
            var plain = Run("eval", "mnist", "--weights", weights);
            var q8 = Run("eval", "mnist", "--weights", weights, "--quantize", "8", "--group-size", "32");
            Assert.Equal(0, q8.Code);
            Assert.Contains("2 of 3 linear layers at 8 bits in groups of 32", q8.Out);
            Assert.True(Math.Abs(Accuracy(plain.Out) - Accuracy(q8.Out)) <= 1.0, $"{plain.Out} vs {q8.Out}");
            var bad = Run("eval", "mnist", "--weights", weights, "--quantize", "7");
            Assert.Equal(2, bad.Code);   // the usage exit code
            Assert.Contains("--quantize takes", bad.Err);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
