using Mlx.Nn;

namespace Mlx.Core.Tests.Nn;

/// <summary>Quantized layers as mlx.nn's: outputs against the dequantized weights, MLX's parameter names, frozen codes.</summary>
public class QuantizedLayerTests
{
    private sealed class Model : Module
    {
        public readonly Embedding Embed;
        public readonly Sequential Body;
        public readonly Linear Head;

        public Model()
        {
            Embed = Child("embed", new Embedding(11, 64));
            Body = Child("body", new Sequential(new Linear(64, 128), new ReLU(), new Linear(128, 64)));
            Head = Child("head", new Linear(64, 5, bias: false));
        }

        public override MxArray Forward(MxArray ids) => Head.Forward(Body.Forward(Embed.Forward(ids)));
    }

    [Fact]
    public void QuantizedLinearIsTheProductWithItsDequantizedWeight_AndNearTheFloatLayer()
    {
        var linear = new Linear(128, 7);
        var x = Mx.Array(H.RandF(3 * 128, 1), new[] { 3, 128 });
        foreach (var bits in new[] { 4, 8 })
        {
            var q = QuantizedLinear.FromLinear(linear, 64, bits);
            var p = q.Parameters();
            Assert.Equal(new[] { "weight", "scales", "biases", "bias" }, p.Keys);
            Assert.Equal(DType.UInt32, p["weight"].DType);
            var dense = Mx.Dequantize(p["weight"], p["scales"], p["biases"], 64, bits);
            var y = q.Forward(x);
            H.Close(Mx.Add(Mx.Matmul(x, Mx.Transpose(dense)), p["bias"]).ToArray<float>(), y, 1e-5, 1e-5);
            // The weights are within half a step of the originals; with 8 bits the outputs differ by little.
            var diff = Mx.Max(Mx.Abs(Mx.Subtract(y, linear.Forward(x)))).Item<float>();
            Assert.True(diff < (bits == 8 ? 0.01 : 0.15), $"{bits} bits: {diff}");
            Assert.Empty(q.TrainableParameters());
            q.Unfreeze();
            Assert.Empty(q.TrainableParameters());
        }
        var fresh = new QuantizedLinear(64, 3, bias: false, groupSize: 32, bits: 2);
        H.Shape(new[] { 3, 4 }, fresh.Parameters()["weight"]);   // 64 values of 2 bits: 4 words a row
        H.Shape(new[] { 2, 3 }, fresh.Forward(Mx.Zeros(new[] { 2, 64 })));
    }

    [Fact]
    public void NnQuantizeConvertsLayersInPlace_WithMlxNames_AndWeightsRoundTrip()
    {
        var model = new Model();
        var ids = Mx.Array(new[] { 0, 3, 10, 7 }, new[] { 2, 2 });
        var before = model.Forward(ids).ToArray<float>();
        Mlx.Nn.Nn.Quantize(model, 32, 8, predicate: (path, _) => path != "head");
        var names = model.Parameters().Keys.ToArray();
        Assert.Contains("body.layers.0.scales", names);
        Assert.Contains("body.layers.2.biases", names);
        Assert.Contains("embed.scales", names);
        Assert.DoesNotContain("head.scales", names);
        Assert.Equal(DType.UInt32, model.Parameters()["body.layers.0.weight"].DType);
        Assert.Equal(new[] { "head.weight" }, model.TrainableParameters().Keys);
        Assert.Equal(new QuantizationSpec(32, 8), model.Embed.Quantization);
        Assert.Null(model.Head.Quantization);
        var after = model.Forward(ids);
        H.Close(before, after, 0.05, 0.05);

        // The embedding looks up dequantized rows; as a linear layer it multiplies by the dequantized table.
        var p = model.Parameters();
        var table = Mx.Dequantize(p["embed.weight"], p["embed.scales"], p["embed.biases"], 32, 8);
        Assert.Equal(Mx.Take(table, ids, 0).ToArray<float>(), model.Embed.Forward(ids).ToArray<float>());
        var h = Mx.Array(H.RandF(2 * 64, 2), new[] { 2, 64 });
        H.Close(Mx.Matmul(h, Mx.Transpose(table)).ToArray<float>(), model.Embed.AsLinear(h), 1e-5, 1e-5);

        // Gradients reach the trainable head (and the input path) through the quantized layers.
        var vg = Mlx.Nn.Nn.ValueAndGrad(model, _ => Mx.Sum(model.Forward(ids)));
        var (_, grads) = vg(Array.Empty<MxArray>());
        Assert.Equal(new[] { "head.weight" }, grads.Keys);

        // Saved and loaded into another quantized model: the same outputs.
        string path = Path.Combine(Path.GetTempPath(), $"mlx-quantized-{Guid.NewGuid():N}.safetensors");
        try
        {
            model.SaveWeights(path);
            var other = new Model();
            Mlx.Nn.Nn.Quantize(other, 32, 8, predicate: (path, _) => path != "head");
            other.LoadWeights(path);
            Assert.Equal(after.ToArray<float>(), other.Forward(ids).ToArray<float>());
            // An unquantized model refuses the quantized checkpoint, naming the extra tensors.
            var plain = new Model();
            var e = Assert.Throws<ArgumentException>(() => plain.LoadWeights(path));
            Assert.Contains("body.layers.0.scales", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<InvalidOperationException>(() => Mlx.Nn.Nn.Quantize(model, 32, 8));
    }

    [Fact]
    public void SettingsPerLayer()
    {
        var model = new Model();
        Mlx.Nn.Nn.Quantize(model, (path, m) => m is Embedding ? new QuantizationSpec(32, 8) : path == "head" ? null : new QuantizationSpec(64, 4, QuantizationMode.Affine));
        Assert.Equal(new QuantizationSpec(32, 8), model.Embed.Quantization);
        Assert.Null(model.Head.Quantization);
        var p = model.Parameters();
        H.Shape(new[] { 11, 16 }, p["embed.weight"]);        // 64 values of 8 bits: 16 words a row
        H.Shape(new[] { 128, 8 }, p["body.layers.0.weight"]);  // 64 values of 4 bits: 8 words a row
        H.Shape(new[] { 128, 1 }, p["body.layers.0.scales"]);
        H.Shape(new[] { 5, 64 }, p["head.weight"]);
        H.Shape(new[] { 2, 2, 5 }, model.Forward(Mx.Array(new[] { 0, 3, 10, 7 }, new[] { 2, 2 })));
    }

    [Fact]
    public void LayersThatCannotBeQuantizedNameThemselves_AndFloatModesWork()
    {
        var seq = new Sequential(new Linear(48, 8));
        var e = Assert.Throws<ArgumentException>(() => Mlx.Nn.Nn.Quantize(seq, 64, 4));
        Assert.Contains("layers.0", e.Message);

        var linear = new Linear(64, 6);
        var x = Mx.Array(H.RandF(2 * 64, 3), new[] { 2, 64 });
        var q = QuantizedLinear.FromLinear(linear, 32, 4, QuantizationMode.Mxfp4);
        var p = q.Parameters();
        Assert.False(p.ContainsKey("biases"));
        var dense = Mx.Dequantize(p["weight"], p["scales"], null, 32, 4, QuantizationMode.Mxfp4, dtype: DType.Float32);
        H.Close(Mx.Add(Mx.Matmul(x, Mx.Transpose(dense)), p["bias"]).ToArray<float>(), q.Forward(x), 1e-5, 1e-5);
        var emb = QuantizedEmbedding.FromEmbedding(new Embedding(5, 64), 32, 8, QuantizationMode.Mxfp8);
        H.Shape(new[] { 3, 64 }, emb.Forward(Mx.Array(new[] { 0, 4, 2 })));
    }
}
