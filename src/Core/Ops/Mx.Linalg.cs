namespace Mlx;

public static partial class Mx
{
    /// <summary>Matrix product with NumPy's rules: 1-D operands are promoted and the extra dim removed; batch dims broadcast.</summary>
    public static MxArray Matmul(MxArray a, MxArray b, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim == 0 || b.NDim == 0) throw new ArgumentException("matmul does not take scalars; use Multiply.");
        var dt = ResultType(a, b);
        if (!dt.IsFloating())
        {
            throw new ArgumentException($"matmul supports only floating-point arrays, not {dt.Name()}.");
        }
        bool vecA = a.NDim == 1, vecB = b.NDim == 1;
        if (vecA) a = ExpandDims(a, 0);
        if (vecB) b = ExpandDims(b, 1);
        if (a.ShapeRef[^1] != b.ShapeRef[^2])
        {
            throw new ArgumentException($"matmul: inner dimensions differ, {MxArray.FormatShape(a.ShapeRef)} @ {MxArray.FormatShape(b.ShapeRef)}.");
        }
        a = AsType(a, dt);
        b = AsType(b, dt);
        var batch = Shapes.Broadcast(a.ShapeRef[..^2], b.ShapeRef[..^2]);
        a = BroadcastTo(a, batch.Concat(a.ShapeRef[^2..]).ToArray());
        b = BroadcastTo(b, batch.Concat(b.ShapeRef[^2..]).ToArray());
        var shape = batch.Append(a.ShapeRef[^2]).Append(b.ShapeRef[^1]).ToArray();
        var r = MxArray.Create(shape, dt, new MatmulPrimitive(), a, b);
        if (vecA) r = Squeeze(r, -2);
        if (vecB) r = Squeeze(r, -1);
        return r;
    }

    /// <summary>beta * c + alpha * (a @ b).</summary>
    public static MxArray Addmm(MxArray c, MxArray a, MxArray b, double alpha = 1.0, double beta = 1.0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var ab = Matmul(a, b, stream);
        if (PlacedOnCpu && ab.Primitive is MatmulPrimitive && ab.DType is DType.Float32 or DType.Float64 && c.DType == ab.DType
            && Shapes.Broadcast(c.ShapeRef, ab.ShapeRef).SequenceEqual(ab.ShapeRef))
        {
            // One GEMM accumulating into c, over the operands as Matmul prepared them (broadcast, promoted).
            var operands = ab.Inputs;
            var fused = MxArray.Create(ab.ShapeRef, ab.DType, new AddMMPrimitive(alpha, beta), BroadcastTo(c, ab.ShapeRef), operands[0], operands[1]);
            ab.Dispose();
            return fused;
        }
        if (alpha != 1.0) ab = Multiply(ab, alpha);
        return Add(beta == 1.0 ? c : Multiply(c, beta), ab);
    }

    public static MxArray Outer(MxArray a, MxArray b, StreamOrDevice? stream = null) =>
        Multiply(Reshape(a, new[] { -1, 1 }), Reshape(b, new[] { 1, -1 }), stream);

    /// <summary>Sum product over the last axes of a and b (a scalar product for 1-D).</summary>
    public static MxArray Inner(MxArray a, MxArray b, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim == 0 || b.NDim == 0) return Multiply(a, b, stream);
        return Tensordot(a, b, new[] { a.NDim - 1 }, new[] { b.NDim - 1 }, stream);
    }

    /// <summary>Contracts the last <paramref name="axes"/> axes of a with the first of b.</summary>
    public static MxArray Tensordot(MxArray a, MxArray b, int axes = 2, StreamOrDevice? stream = null) =>
        Tensordot(a, b, Enumerable.Range(a.NDim - axes, axes).ToArray(), Enumerable.Range(0, axes).ToArray(), stream);

    public static MxArray Tensordot(MxArray a, MxArray b, int[] axesA, int[] axesB, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (axesA.Length != axesB.Length) throw new ArgumentException("tensordot: axis lists differ in length.");
        var ca = Shapes.Axes(axesA, a.NDim);
        var cb = Shapes.Axes(axesB, b.NDim);
        for (int i = 0; i < ca.Length; i++)
        {
            if (a.ShapeRef[ca[i]] != b.ShapeRef[cb[i]]) throw new ArgumentException($"tensordot: axis sizes {a.ShapeRef[ca[i]]} and {b.ShapeRef[cb[i]]} differ.");
        }
        var freeA = Enumerable.Range(0, a.NDim).Where(i => !ca.Contains(i)).ToArray();
        var freeB = Enumerable.Range(0, b.NDim).Where(i => !cb.Contains(i)).ToArray();
        int k = checked((int)ca.Aggregate(1L, (n, i) => n * a.ShapeRef[i]));
        // Explicit sizes, not -1: with an empty contraction (k = 0) the free size cannot be inferred.
        int m = checked((int)freeA.Aggregate(1L, (n, i) => n * a.ShapeRef[i]));
        int nb = checked((int)freeB.Aggregate(1L, (n, i) => n * b.ShapeRef[i]));
        var at = Reshape(Transpose(a, freeA.Concat(ca).ToArray()), new[] { m, k });
        var bt = Reshape(Transpose(b, cb.Concat(freeB).ToArray()), new[] { k, nb });
        var r = Matmul(at, bt, stream);
        return Reshape(r, freeA.Select(i => a.ShapeRef[i]).Concat(freeB.Select(i => b.ShapeRef[i])).ToArray());
    }

    /// <summary>
    /// Einstein summation over explicit subscripts ("ij,jk->ik"; implicit output and "..." are supported):
    /// operands are aligned to one index space by transposes and broadcasts, multiplied, and summed.
    /// </summary>
    public static MxArray Einsum(string subscripts, params MxArray[] operands)
    {
        string spec = subscripts.Replace(" ", "");
        string[] sides = spec.Split("->");
        string[] inputs = sides[0].Split(',');
        if (inputs.Length != operands.Length) throw new ArgumentException($"einsum: {inputs.Length} subscripts for {operands.Length} operands.");
        // Expand "..." into fresh upper-case letters.
        int ellipsisDims = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i].Contains("...")) ellipsisDims = Math.Max(ellipsisDims, operands[i].NDim - (inputs[i].Length - 3));
        }
        string ell = new string(Enumerable.Range(0, ellipsisDims).Select(i => (char)('A' + i)).ToArray());
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i].Contains("..."))
            {
                int own = operands[i].NDim - (inputs[i].Length - 3);
                inputs[i] = inputs[i].Replace("...", ell[(ellipsisDims - own)..]);
            }
            if (inputs[i].Length != operands[i].NDim) throw new ArgumentException($"einsum: subscript '{inputs[i]}' does not match an operand of {operands[i].NDim} dims.");
        }
        string output;
        if (sides.Length > 1)
        {
            output = sides[1].Replace("...", ell);
        }
        else
        {
            var counts = string.Concat(inputs).GroupBy(c => c).Where(g => g.Count() == 1 && !char.IsUpper(g.Key)).Select(g => g.Key).OrderBy(c => c);
            output = ell + new string(counts.ToArray());
        }
        var letters = output.ToList();
        foreach (char c in string.Concat(inputs)) if (!letters.Contains(c)) letters.Add(c);
        var sizes = new Dictionary<char, int>();
        MxArray? product = null;
        for (int i = 0; i < inputs.Length; i++)
        {
            var x = operands[i];
            // Repeated letters in one operand take the diagonal.
            string sub = inputs[i];
            while (sub.Distinct().Count() != sub.Length)
            {
                char rep = sub.GroupBy(c => c).First(g => g.Count() > 1).Key;
                int p = sub.IndexOf(rep), q = sub.IndexOf(rep, p + 1);
                x = Diagonal(x, 0, p, q);
                sub = sub.Remove(q, 1).Remove(p, 1) + rep;
            }
            for (int d = 0; d < sub.Length; d++)
            {
                if (sizes.TryGetValue(sub[d], out int s) && s != x.ShapeRef[d] && s != 1 && x.ShapeRef[d] != 1)
                    throw new ArgumentException($"einsum: index '{sub[d]}' has sizes {s} and {x.ShapeRef[d]}.");
                sizes[sub[d]] = Math.Max(sizes.GetValueOrDefault(sub[d], 1), x.ShapeRef[d]);
            }
            var perm = letters.Where(sub.Contains).Select(c => sub.IndexOf(c)).ToArray();
            var aligned = Transpose(x, perm);
            var shape = letters.Select(c => sub.Contains(c) ? x.ShapeRef[sub.IndexOf(c)] : 1).ToArray();
            aligned = Reshape(aligned, shape);
            product = product is null ? aligned : Multiply(product, aligned);
        }
        var sumAxes = Enumerable.Range(output.Length, letters.Count - output.Length).ToArray();
        var result = sumAxes.Length > 0 ? Sum(product!, sumAxes) : product!;
        var full = output.Select(c => sizes.GetValueOrDefault(c, 1)).ToArray();
        return BroadcastTo(result, full);
    }
}
