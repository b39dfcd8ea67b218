namespace Mlx;

public static partial class Mx
{
    /// <summary>
    /// As mlx.core.hadamard_transform: the Walsh-Hadamard transform along the last axis, of size n = m * 2^k with m in
    /// (1, 12, 20, 28), times <paramref name="scale"/> (default 1 / sqrt(n), which makes it orthonormal). Integer input
    /// computes in float32. Differentiable (the VJP applies the transposed matrix; MLX applies the matrix itself, which
    /// differs for m = 20 and 28, whose matrices are not symmetric).
    /// </summary>
    public static MxArray HadamardTransform(MxArray a, double? scale = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.Size == 0) throw new ArgumentException("hadamard_transform does not take empty arrays.");
        int n = a.NDim > 0 ? a.ShapeRef[^1] : 1;
        double s = scale ?? 1.0 / Math.Sqrt(n);
        var dt = a.DType.IsFloating() ? a.DType : DType.Float32;
        if (n == 1) return s == 1 ? a : Multiply(AsType(a, dt), Array(s, dt));
        if (Kernels.Hadamard.Decompose(n) is null)
        {
            throw new ArgumentException($"hadamard_transform: the last dimension {n} is not m * 2^k with m in (1, 12, 20, 28) and k <= 26.");
        }
        return MxArray.Create(a.ShapeRef, dt, new HadamardPrimitive(s, false), AsType(a, dt));
    }
}
